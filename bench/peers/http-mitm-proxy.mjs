// Peer for `bench/run.mjs --peers`: http-mitm-proxy 1.x with its defaults, which intercept every CONNECT
// (its own CA in $MITM_CA_DIR/certs/ca.pem, one generated key and certificate per host) and forward plain
// HTTP. Upstream trust for the bench origin comes from NODE_EXTRA_CA_CERTS. Listens on 127.0.0.1:$PORT.
import { Proxy } from 'http-mitm-proxy';

const port = Number(process.env.PORT);
const proxy = new Proxy();
let reported = 0;
proxy.onError((_ctx, err) => { if (reported++ < 5) console.error('http-mitm-proxy error:', err?.message); });
proxy.listen({ host: '127.0.0.1', port, sslCaDir: process.env.MITM_CA_DIR, keepAlive: process.env.MITM_KEEPALIVE === '1' },
  () => console.log(`http-mitm-proxy listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
