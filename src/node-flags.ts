// The Node.js (V8) flags the proxy is launched with: `npm start`, the image's ENTRYPOINT and the bench use
// exactly these (test/integration/docker.test.ts checks that they agree). V8 reads heap flags only when
// the isolate is created, so they cannot be set from inside the process; a `--workers` primary passes its
// own to the workers (cluster.fork inherits process.execArgv).
//
// --initial-old-space-size=64: with the app loaded the old generation holds ~9.6 MB after start, just
// above V8's 8 MB threshold for starting incremental marking and close under its first allocation limit.
// Plain-HTTP forwarding through Node's HTTP client allocates a new ArrayBuffer per 64 KiB read; in that
// window V8 started a mark-compact every few MB of body, 35–65 per GiB in most starts (2–3 in others),
// and the proxy spent ~40 % more CPU per GiB (2.0–2.6 against 1.2–1.4 CPU-s/GiB on the development VM).
// 32 MB did not help; 48 MB nearly (1–4); 64 MB gave 0 mark-compacts per GiB in every run. It sets when the
// first old-generation collection is due, not a reservation. The price is memory: a plain-HTTP download's
// peak RSS did not change, but under the bench's mixed load phases the old generation fills further before
// it is collected (peak RSS 151–154 → 176 MB; 166 MB with 48).
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
