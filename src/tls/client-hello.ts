// Pure ClientHello parser for the tunnel peek: bytes in, {hello | need-more | not-tls} out (SNI, versions, ALPN).
// Must not throw on any input, touch sockets, decrypt or keep state between calls: the caller concatenates
// what it has received and calls again. Bounded by MAX_CLIENT_HELLO_BYTES.

/** Default bound on the bytes (record headers included) a ClientHello may take before it is refused. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

export type TlsVersionName = 'SSLv2' | 'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface ClientHello {
  kind: 'hello';
  /** Version of the first record header (0x0301 usually; RFC 8446 §5.1). For SSLv2-format hellos: 0x0002. */
  recordVersion: number;
  /** ClientHello.legacy_version (RFC 8446 §4.1.2) / client_version (RFC 5246 §7.4.1.2). */
  legacyVersion: number;
  /** Highest version offered (e.g. 0x0303). 0 when supported_versions offers nothing usable. */
  highestVersion: number;
  /** Name of highestVersion; null when it is no known version. */
  versionName: TlsVersionName | null;
  /** true: SSL 2.0-format CLIENT-HELLO (RFC 5246 Appendix E.2), which RFC 6176 §3 forbids. */
  sslv2: boolean;
  /** server_name host_name (RFC 6066 §3), ASCII lower-cased, one trailing dot removed; null when absent. */
  sni: string | null;
  /** false only when sni is present but not a syntactically valid DNS host name (kept so it can be logged). */
  sniValid: boolean;
  /** ALPN ProtocolNameList in client order (RFC 7301 §3.1). */
  alpn: string[];
  /** Bytes of buf that carry the ClientHello (every record header and fragment). */
  bytesConsumed: number;
}
/** atLeast: no progress is possible before buf holds at least this many bytes. */
export interface NeedMore { kind: 'need-more'; atLeast: number }
export interface NotTls { kind: 'not-tls'; why: string }
export type ParseResult = ClientHello | NeedMore | NotTls;

const REC_HANDSHAKE = 22;
const HS_CLIENT_HELLO = 1;
const MAX_FRAGMENT = 16384; // RFC 8446 §5.1 / RFC 5246 §6.2.1: TLSPlaintext.length MUST NOT exceed 2^14
const EXT_SERVER_NAME = 0x0000; // RFC 6066 §3
const EXT_ALPN = 0x0010; // RFC 7301 §3.1
const EXT_SUPPORTED_VERSIONS = 0x002b; // RFC 8446 §4.2.1

const notTls = (why: string): NotTls => ({ kind: 'not-tls', why });
const needMore = (atLeast: number): NeedMore => ({ kind: 'need-more', atLeast });

/** GREASE values 0x0a0a, 0x1a1a … 0xfafa (RFC 8701 §2) are never real versions. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

const NAMES = new Map<number, TlsVersionName>([
  [0x0002, 'SSLv2'], [0x0300, 'SSLv3'], [0x0301, 'TLSv1'], [0x0302, 'TLSv1.1'], [0x0303, 'TLSv1.2'], [0x0304, 'TLSv1.3'],
]);
export function versionName(v: number): TlsVersionName | null {
  return NAMES.get(v) ?? null;
}

/** LDH labels (underscore tolerated, as real SNI carries it), 1–63 bytes each, 253 in all (RFC 1123 §2.1). */
function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  let label = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return false;
      label = 0;
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) {
      if (++label > 63) return false;
    } else return false;
  }
  return label > 0;
}

/** Parses what has arrived so far; call again with all bytes so far on `need-more`. Never throws. */
export function parseClientHello(buf: Buffer, maxBytes: number = MAX_CLIENT_HELLO_BYTES): ParseResult {
  if (!(maxBytes > 0)) maxBytes = MAX_CLIENT_HELLO_BYTES; // NaN, 0 or negative: the default bound
  try {
    if (buf.length === 0) return needMore(1);
    if (buf[0]! & 0x80) return parseSslv2(buf, maxBytes);
    return parseRecords(buf, maxBytes);
  } catch {
    // Unreachable by construction (every read is bounds-checked); kept so the "never throws" promise holds.
    return notTls('parser error');
  }
}

/**
 * Walks consecutive handshake records (RFC 8446 §5.1: a handshake message may be fragmented over several
 * records, which must not be interleaved with other record types) until the whole ClientHello is present.
 */
function parseRecords(buf: Buffer, maxBytes: number): ParseResult {
  if (buf[0] !== REC_HANDSHAKE) return notTls(`record type ${buf[0]} is not handshake`);
  if (buf.length >= 2 && buf[1] !== 3) return notTls(`record version major ${buf[1]} is not 3`);
  // hsSeen: handshake bytes in the complete records walked; hsHeader: the first 4 of them, msg_type (1) +
  // uint24 length (RFC 8446 §4), hdrRead of them read so far; hsTotal: 4 + that length once known.
  let pos = 0, records = 0, hsSeen = 0, hdrRead = 0, hsHeader = 0, hsTotal = -1;
  for (;;) {
    if (pos + 5 > maxBytes) return notTls(`ClientHello exceeds ${maxBytes} bytes`);
    if (pos + 5 > buf.length) return needMore(pos + 5);
    if (buf[pos] !== REC_HANDSHAKE) return notTls(`record type ${buf[pos]} interleaved with the handshake`);
    if (buf[pos + 1] !== 3) return notTls(`record version major ${buf[pos + 1]} is not 3`);
    const len = buf.readUInt16BE(pos + 3);
    // RFC 5246 §6.2.1: zero-length handshake fragments MUST NOT be sent.
    if (len === 0) return notTls('empty handshake record');
    if (len > MAX_FRAGMENT) return notTls(`record length ${len} exceeds 2^14`);
    const end = pos + 5 + len;
    if (end > maxBytes) return notTls(`ClientHello exceeds ${maxBytes} bytes`);
    // Read the handshake header as soon as its bytes arrive, so a bad type or size is refused early.
    for (let i = pos + 5; hdrRead < 4 && i < end && i < buf.length; i++, hdrRead++) {
      hsHeader = hsHeader * 256 + buf[i]!;
    }
    if (hsTotal < 0 && hdrRead === 4) {
      if (hsHeader >>> 24 !== HS_CLIENT_HELLO) return notTls(`handshake type ${hsHeader >>> 24} is not client_hello`);
      hsTotal = 4 + (hsHeader & 0xffffff);
      // Every record adds 5 header bytes; even packed into full records the hello must fit in maxBytes.
      if (hsTotal + 5 * Math.ceil(hsTotal / MAX_FRAGMENT) > maxBytes) {
        return notTls(`handshake length ${hsTotal - 4} exceeds ${maxBytes} bytes`);
      }
    }
    if (end > buf.length) return needMore(end);
    hsSeen += len;
    records++;
    pos = end;
    if (hsTotal >= 0 && hsSeen >= hsTotal) break; // bytes after the hello in its last record are ignored
  }
  const recordVersion = buf.readUInt16BE(1);
  if (records === 1) return parseBody(buf, 9, 5 + hsTotal, recordVersion, pos); // common case: no copy
  // Rare: reassemble the fragments of a hello split over records.
  const hs = Buffer.allocUnsafe(hsSeen);
  for (let p = 0, o = 0; p < pos; p += 5 + buf.readUInt16BE(p + 3)) {
    o += buf.copy(hs, o, p + 5, p + 5 + buf.readUInt16BE(p + 3));
  }
  return parseBody(hs, 4, hsTotal, recordVersion, pos);
}

/** ClientHello body in b[start, end) (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2). */
function parseBody(b: Buffer, start: number, end: number, recordVersion: number, consumed: number): ParseResult {
  let p = start;
  if (p + 35 > end) return notTls('ClientHello truncated before session_id');
  const legacyVersion = b.readUInt16BE(p);
  p += 34; // legacy_version + random[32]
  const sidLen = b[p]!;
  if (sidLen > 32) return notTls(`session_id length ${sidLen} > 32`);
  p += 1 + sidLen;
  if (p + 2 > end) return notTls('ClientHello truncated before cipher_suites');
  const csLen = b.readUInt16BE(p);
  if (csLen < 2 || csLen & 1) return notTls(`bad cipher_suites length ${csLen}`);
  p += 2 + csLen;
  if (p + 1 > end) return notTls('ClientHello truncated before compression_methods');
  const cmLen = b[p]!;
  if (cmLen < 1) return notTls('empty compression_methods');
  p += 1 + cmLen;
  if (p > end) return notTls('ClientHello truncated in compression_methods');
  const hello: ClientHello = {
    kind: 'hello', recordVersion, legacyVersion, highestVersion: legacyVersion, versionName: null,
    sslv2: false, sni: null, sniValid: true, alpn: [], bytesConsumed: consumed,
  };
  // RFC 5246 §7.4.1.2: extensions are present iff bytes follow compression_methods.
  if (p < end) {
    if (p + 2 > end || p + 2 + b.readUInt16BE(p) !== end) return notTls('extensions length does not match ClientHello');
    p += 2;
    let seen = 0; // RFC 8446 §4.2: no extension type may appear twice; checked for the three we act on
    while (p < end) {
      if (p + 4 > end) return notTls('truncated extension header');
      const type = b.readUInt16BE(p);
      const len = b.readUInt16BE(p + 2);
      const d = p + 4;
      p = d + len;
      if (p > end) return notTls(`extension 0x${type.toString(16)} overruns the ClientHello`);
      const bit = type === EXT_SERVER_NAME ? 1 : type === EXT_ALPN ? 2 : type === EXT_SUPPORTED_VERSIONS ? 4 : 0;
      if (bit === 0) continue;
      if (seen & bit) return notTls(`duplicate extension 0x${type.toString(16)}`);
      seen |= bit;
      const why = bit === 1 ? readSni(b, d, p, hello) : bit === 2 ? readAlpn(b, d, p, hello) : readVersions(b, d, p, hello);
      if (why !== null) return notTls(why);
    }
  }
  hello.versionName = versionName(hello.highestVersion);
  return hello;
}

/** RFC 6066 §3: ServerNameList <1..2^16-1> of {name_type, HostName <1..2^16-1>}; one host_name at most. */
function readSni(b: Buffer, d: number, end: number, hello: ClientHello): string | null {
  if (d + 2 > end || d + 2 + b.readUInt16BE(d) !== end || d + 2 === end) return 'malformed server_name list';
  for (let p = d + 2; p < end; ) {
    if (p + 3 > end) return 'truncated server_name entry';
    const type = b[p]!, len = b.readUInt16BE(p + 1), s = p + 3;
    p = s + len;
    if (len === 0 || p > end) return 'bad server_name length';
    if (type !== 0) continue; // only host_name(0) is defined; others are skipped
    if (hello.sni !== null) return 'more than one host_name';
    // latin1 keeps every byte visible (for logs); RFC 6066 requires ASCII, checked by isHostName below.
    let name = b.toString('latin1', s, p).toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    hello.sni = name;
    hello.sniValid = isHostName(name);
  }
  return null;
}

/** RFC 7301 §3.1: ProtocolNameList <2..2^16-1> of ProtocolName <1..2^8-1>. */
function readAlpn(b: Buffer, d: number, end: number, hello: ClientHello): string | null {
  if (d + 2 > end || d + 2 + b.readUInt16BE(d) !== end || d + 2 === end) return 'malformed ALPN list';
  for (let p = d + 2; p < end; ) {
    const len = b[p]!;
    if (len === 0 || p + 1 + len > end) return 'bad ALPN protocol length';
    hello.alpn.push(b.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return null;
}

/**
 * RFC 8446 §4.2.1: versions <2..254>. When present, only this list counts, not legacy_version. GREASE
 * (RFC 8701) and non-0x03xx values (pre-RFC TLS 1.3 drafts 0x7fxx) are ignored; nothing usable left → 0.
 */
function readVersions(b: Buffer, d: number, end: number, hello: ClientHello): string | null {
  const len = d < end ? b[d]! : 0;
  if (len < 2 || len & 1 || d + 1 + len !== end) return 'malformed supported_versions';
  let best = 0;
  for (let p = d + 1; p < end; p += 2) {
    const v = b.readUInt16BE(p);
    if (!isGrease(v) && v >> 8 === 3 && v > best) best = v;
  }
  hello.highestVersion = best;
  return null;
}

/**
 * SSL 2.0-format CLIENT-HELLO (RFC 5246 Appendix E.2): 2-byte header with the high bit set, msg_type 1,
 * version, cipher_spec/session_id/challenge lengths. Recognised only so the caller can refuse it as too old.
 */
function parseSslv2(buf: Buffer, maxBytes: number): ParseResult {
  if (buf.length < 2) return maxBytes < 2 ? notTls(`bound of ${maxBytes} bytes`) : needMore(2);
  const total = 2 + (((buf[0]! & 0x7f) << 8) | buf[1]!);
  if (buf.length >= 3 && buf[2] !== HS_CLIENT_HELLO) return notTls('SSLv2 message is not CLIENT-HELLO');
  if (total > maxBytes) return notTls(`SSLv2 hello exceeds ${maxBytes} bytes`);
  if (total < 11) return notTls('SSLv2 hello too short');
  if (buf.length < total) return needMore(total);
  const version = buf.readUInt16BE(3);
  const cs = buf.readUInt16BE(5), sid = buf.readUInt16BE(7), ch = buf.readUInt16BE(9);
  // E.2: cipher_spec_length > 0 and a multiple of 3; session_id 0 or 16; challenge 16..32.
  if (cs === 0 || cs % 3 !== 0 || (sid !== 0 && sid !== 16) || ch < 16 || ch > 32 || 11 + cs + sid + ch !== total) {
    return notTls('malformed SSLv2 hello');
  }
  if (version !== 0x0002 && version >> 8 !== 3) return notTls(`SSLv2 hello version 0x${version.toString(16)}`);
  return {
    kind: 'hello', recordVersion: 0x0002, legacyVersion: version, highestVersion: version,
    versionName: versionName(version), sslv2: true, sni: null, sniValid: true, alpn: [], bytesConsumed: total,
  };
}
