// Pure HTTP/1.1 message framing for a relay that forwards bodies byte-for-byte: strict head parsing (RFC 9112
// §2-5: CRLF only, no obs-fold), body framing (§6) and a streaming chunked-body scanner (§7.1). No I/O; anything
// two parsers could read differently is an error (anti-smuggling), never a guess.

export interface H1Head {
  /** request: method (case-sensitive token); response: '' */
  method: string;
  /** request: request-target as sent; response: '' */
  target: string;
  /** response: status code 100-999; request: 0 */
  status: number;
  /** response reason phrase ('' allowed); request: '' */
  statusText: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 */
  minor: 0 | 1;
  /** header fields in order, names as received (not lower-cased), values with OWS trimmed */
  headers: Array<[name: string, value: string]>;
}
export type HeadResult =
  | { kind: 'incomplete' }
  | { kind: 'error'; reason: 'bad_request' | 'headers_too_large'; detail: string }
  | { kind: 'head'; head: H1Head; length: number }; // length = bytes of the head incl. the terminating empty line

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };
export type FramingResult = Framing | { kind: 'error'; detail: string };

const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) ([\\x21-\\x7e]+) HTTP/1\\.([01])$`);
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const FIELD_LINE = new RegExp(`^(${TOKEN}):([\\t\\x20-\\x7e\\x80-\\xff]*)$`);
const DIGITS = /^[0-9]+$/;

const bad = (detail: string): HeadResult => ({ kind: 'error', reason: 'bad_request', detail });

/** Trims SP/HTAB only (String#trim would also eat obs-text such as 0xA0). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return s.slice(a, b);
}

/** A LF not preceded by CR, or a CR followed by something other than LF, within b. */
function hasBareEol(b: Buffer): boolean {
  for (let i = b.indexOf(LF); i >= 0; i = b.indexOf(LF, i + 1)) if (i === 0 || b[i - 1] !== CR) return true;
  for (let i = b.indexOf(CR); i >= 0 && i < b.length - 1; i = b.indexOf(CR, i + 1)) if (b[i + 1] !== LF) return true;
  return false;
}

function parseHead(buf: Buffer, maxBytes: number, request: boolean): HeadResult {
  const view = buf.length > maxBytes ? buf.subarray(0, maxBytes) : buf;
  let skip = 0;
  if (request && buf.length >= 2 && buf[0] === CR && buf[1] === LF) {
    if (buf.length >= 4 && buf[2] === CR && buf[3] === LF) return bad('more than one empty line before the request line');
    skip = 2;
  }
  const at = view.indexOf(CRLFCRLF, skip);
  if (at < 0) {
    // Reject a bare CR/LF now rather than waiting for a terminator an LF-only client will never send.
    if (hasBareEol(view)) return bad('bare CR or LF in the head');
    if (buf.length >= maxBytes) return { kind: 'error', reason: 'headers_too_large', detail: `no end of head within ${maxBytes} bytes` };
    return { kind: 'incomplete' };
  }
  const lines = buf.toString('latin1', skip, at).split('\r\n');
  const head: H1Head = { method: '', target: '', status: 0, statusText: '', minor: 1, headers: [] };
  const first = lines[0]!;
  if (request) {
    const m = REQUEST_LINE.exec(first);
    if (!m) return bad(`invalid request line ${JSON.stringify(first.slice(0, 100))}`);
    head.method = m[1]!;
    head.target = m[2]!;
    head.minor = m[3] === '0' ? 0 : 1;
  } else {
    const m = STATUS_LINE.exec(first);
    if (!m) return bad(`invalid status line ${JSON.stringify(first.slice(0, 100))}`);
    head.minor = m[1] === '0' ? 0 : 1;
    head.status = Number(m[2]);
    head.statusText = m[3] ?? '';
  }
  for (let i = 1; i < lines.length; i++) {
    const m = FIELD_LINE.exec(lines[i]!);
    if (!m) return bad(`invalid field line ${JSON.stringify(lines[i]!.slice(0, 100))}`);
    head.headers.push([m[1]!, trimOws(m[2]!)]);
  }
  return { kind: 'head', head, length: at + 4 };
}

export function parseRequestHead(buf: Buffer, maxBytes: number): HeadResult {
  return parseHead(buf, maxBytes, true);
}

export function parseResponseHead(buf: Buffer, maxBytes: number): HeadResult {
  return parseHead(buf, maxBytes, false);
}

/** Case-insensitive: all values of a field, each comma-separated list element trimmed, empty elements dropped. */
export function fieldTokens(head: H1Head, name: string): string[] {
  const want = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of head.headers) {
    if (n.toLowerCase() !== want) continue;
    for (const el of v.split(',')) {
      const x = trimOws(el);
      if (x) out.push(x);
    }
  }
  return out;
}

/**
 * The idle time an origin announces for its connection (`Keep-Alive: timeout=N`, RFC 2068 §19.7.1.1), in
 * seconds; null when absent or not a plain number. The smallest when repeated.
 */
export function keepAliveTimeout(head: H1Head): number | null {
  let min: number | null = null;
  for (const t of fieldTokens(head, 'keep-alive')) {
    const m = /^timeout\s*=\s*"?(\d{1,9})"?$/i.exec(t);
    if (m) min = Math.min(min ?? Infinity, Number(m[1]));
  }
  return min;
}

const hasField = (head: H1Head, name: string): boolean => head.headers.some(([n]) => n.toLowerCase() === name);

/** Every Content-Length field and list element must be 1*DIGIT, all the same value, and a safe integer. */
function contentLength(head: H1Head): FramingResult | null {
  let length = -1;
  for (const [n, v] of head.headers) {
    if (n.toLowerCase() !== 'content-length') continue;
    for (const el of v.split(',')) {
      const s = trimOws(el);
      if (!DIGITS.test(s)) return { kind: 'error', detail: `invalid Content-Length ${JSON.stringify(v)}` };
      const len = Number(s);
      if (len > Number.MAX_SAFE_INTEGER) return { kind: 'error', detail: `Content-Length ${s} too large` };
      if (length >= 0 && len !== length) return { kind: 'error', detail: 'conflicting Content-Length values' };
      length = len;
    }
  }
  return length < 0 ? null : { kind: 'length', length };
}

/** Transfer-Encoding present: chunked exactly once and last; for a response, no chunked at all means close. */
function transferFraming(head: H1Head, response: boolean): FramingResult {
  if (head.minor === 0) return { kind: 'error', detail: 'Transfer-Encoding in an HTTP/1.0 message' };
  if (hasField(head, 'content-length')) return { kind: 'error', detail: 'both Transfer-Encoding and Content-Length' };
  const codings = fieldTokens(head, 'transfer-encoding').map((c) => c.toLowerCase());
  const chunked = codings.filter((c) => c === 'chunked').length;
  if (chunked === 1 && codings[codings.length - 1] === 'chunked') return { kind: 'chunked' };
  if (response && chunked === 0 && codings.length > 0) return { kind: 'close' };
  return { kind: 'error', detail: `unsupported Transfer-Encoding ${JSON.stringify(codings.join(', '))}` };
}

export function requestFraming(head: H1Head): FramingResult {
  if (hasField(head, 'transfer-encoding')) return transferFraming(head, false);
  return contentLength(head) ?? { kind: 'none' };
}

/** requestMethod = method of the request this answers (HEAD → none) */
export function responseFraming(head: H1Head, requestMethod: string): FramingResult {
  if (requestMethod === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  if (hasField(head, 'transfer-encoding')) return transferFraming(head, true);
  return contentLength(head) ?? { kind: 'close' };
}

// ---- chunked body (RFC 9112 §7.1) ----
const MAX_SIZE_LINE = 4096; // chunk-size + extensions, CRLF not counted
const MAX_TRAILER_LINE = 8192; // one trailer field line, CRLF not counted
const MAX_TRAILERS = 65536; // all trailer field lines, CRLFs not counted

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
const IS_TCHAR = 1;
const IS_VALUE = 2; // HTAB, SP, VCHAR, obs-text
const CLASS = new Uint8Array(256);
const ONE_TCHAR = new RegExp(`^${TOKEN}$`);
for (let c = 0; c < 256; c++) {
  if (c === 0x09 || (c >= 0x20 && c !== 0x7f)) CLASS[c] = IS_VALUE;
  if (ONE_TCHAR.test(String.fromCharCode(c))) CLASS[c] = CLASS[c]! | IS_TCHAR;
}

const S_SIZE0 = 0; // expecting the first hex digit of a chunk-size
const S_SIZE = 1; // in chunk-size
const S_BWS = 2; // whitespace after chunk-size; only ';' may follow
const S_EXT = 3; // in chunk extensions
const S_SIZE_LF = 4; // after the size line's CR
const S_DATA = 5; // in chunk data (`size` bytes left)
const S_DATA_CR = 6;
const S_DATA_LF = 7;
const S_TRAILER = 8; // at the start of a trailer line or the final CRLF
const S_TNAME = 9;
const S_TVALUE = 10;
const S_TLF = 11;
const S_FINAL_LF = 12;
const S_DONE = 13;

/** Scans a chunked body (RFC 9112 §7.1) as bytes pass through; never copies body data. */
export class ChunkedScanner {
  private state = S_SIZE0;
  private size = 0; // chunk-size being read, then data bytes left
  private line = 0; // bytes of the current size line or trailer line
  private trailers = 0; // bytes of trailer field lines so far
  private failure = '';

  private fail(error: string): { error: string } {
    this.failure = error;
    return { error };
  }

  /** Consumes buf[start..end). Returns how many bytes belong to this message (≤ end-start) and whether the message (last chunk + trailer section + final CRLF) ended within them; or an error. */
  push(buf: Buffer, start: number, end: number): { consumed: number; done: boolean } | { error: string } {
    if (this.failure) return { error: this.failure };
    if (this.state === S_DONE) return { consumed: 0, done: true };
    let i = start;
    while (i < end) {
      if (this.state === S_DATA) {
        const n = Math.min(this.size, end - i);
        i += n;
        if ((this.size -= n) === 0) this.state = S_DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (this.state) {
        case S_SIZE0:
          if (HEX[c]! < 0) return this.fail('invalid chunk size');
          this.size = HEX[c]!;
          this.line = 1;
          this.state = S_SIZE;
          break;
        case S_SIZE:
        case S_BWS:
        case S_EXT:
          if (c === CR && this.state !== S_BWS) {
            this.state = S_SIZE_LF;
            break;
          }
          if (++this.line > MAX_SIZE_LINE) return this.fail('chunk size line too long');
          if (this.state === S_EXT) {
            if (c === LF || c === 0) return this.fail('invalid byte in chunk extension');
          } else if (c === 0x3b) this.state = S_EXT;
          else if (c === 0x20 || c === 0x09) this.state = S_BWS;
          else if (this.state === S_BWS || HEX[c]! < 0) return this.fail('invalid chunk size');
          else if ((this.size = this.size * 16 + HEX[c]!) > Number.MAX_SAFE_INTEGER) return this.fail('chunk size too large');
          break;
        case S_SIZE_LF:
          if (c !== LF) return this.fail('bare CR after chunk size');
          this.state = this.size > 0 ? S_DATA : S_TRAILER;
          break;
        case S_DATA_CR:
          if (c !== CR) return this.fail('missing CRLF after chunk data');
          this.state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.fail('missing CRLF after chunk data');
          this.state = S_SIZE0;
          break;
        case S_TRAILER:
          if (c === CR) this.state = S_FINAL_LF;
          else if (CLASS[c]! & IS_TCHAR) {
            this.line = 1;
            if (++this.trailers > MAX_TRAILERS) return this.fail('trailer section too large');
            this.state = S_TNAME;
          } else return this.fail('invalid trailer field line');
          break;
        case S_TNAME:
          if (c === 0x3a) this.state = S_TVALUE;
          else if (!(CLASS[c]! & IS_TCHAR)) return this.fail('invalid trailer field name');
          if (++this.line > MAX_TRAILER_LINE) return this.fail('trailer field line too long');
          if (++this.trailers > MAX_TRAILERS) return this.fail('trailer section too large');
          break;
        case S_TVALUE:
          if (c === CR) {
            this.state = S_TLF;
            break;
          }
          if (!(CLASS[c]! & IS_VALUE)) return this.fail('invalid trailer field value');
          if (++this.line > MAX_TRAILER_LINE) return this.fail('trailer field line too long');
          if (++this.trailers > MAX_TRAILERS) return this.fail('trailer section too large');
          break;
        case S_TLF:
          if (c !== LF) return this.fail('bare CR in trailer section');
          this.state = S_TRAILER;
          break;
        default: // S_FINAL_LF
          if (c !== LF) return this.fail('bare CR at end of chunked body');
          this.state = S_DONE;
          return { consumed: i - start, done: true };
      }
    }
    return { consumed: i - start, done: false };
  }
}
