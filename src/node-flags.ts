// The Node.js (V8) flags the proxy is launched with: `npm start`, the image's ENTRYPOINT and the bench use
// exactly these (test/integration/docker.test.ts checks that they agree). V8 reads heap flags only when
// the isolate is created, so they cannot be set from inside the process; a `--workers` primary passes its
// own to the workers (cluster.fork inherits process.execArgv).
//
// None at present. The fifth session launched with --initial-old-space-size=64: plain-HTTP forwarding then
// went through Node's HTTP client, which allocates a new ArrayBuffer per 64 KiB read, and with ~9.6 MB of
// old generation after start (just inside V8's incremental-marking window) that ran 35–65 mark-compacts per
// GiB. Plain HTTP now goes through the relay (proxy/forward-relay.ts), whose origin reads land in recycled
// buffers: 0–6 mark-compacts over ~180,000 small requests or a GiB of body without the flag, the same CPU,
// and ~30 MB less peak RSS in the bench's load phases (136 → 106–110 MB). bench/RESULTS.md, sixth session.
export const NODE_FLAGS: readonly string[] = [];
