// Builds the one TLS alert record the proxy sends itself: fatal protocol_version, answering a ClientHello
// that offers less than TLS 1.2 (CONTRACT.md). Pure bytes; must not write to sockets or know policy.

const CONTENT_ALERT = 21; // RFC 8446 §5.1 ContentType.alert; RFC 5246 §6.2.1
const LEVEL_FATAL = 2; // RFC 5246 §7.2 AlertLevel.fatal
const PROTOCOL_VERSION = 70; // RFC 8446 §6.2 / RFC 5246 §7.2.2 AlertDescription.protocol_version

/**
 * The 7-byte alert record. The record version echoes the client's record version when it is SSL 3.0–TLS 1.2
 * (an old client must be able to read it), else 0x0301, the value RFC 8446 §5.1 allows before negotiation.
 * A fresh Buffer each call, so no caller can corrupt another's copy.
 */
export function protocolVersionAlert(recordVersion?: number): Buffer {
  const v = recordVersion !== undefined && recordVersion >= 0x0300 && recordVersion <= 0x0303 ? recordVersion : 0x0301;
  return Buffer.from([CONTENT_ALERT, v >> 8, v & 0xff, 0x00, 0x02, LEVEL_FATAL, PROTOCOL_VERSION]);
}
