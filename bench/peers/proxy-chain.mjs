// Peer for `bench/run.mjs --peers`: proxy-chain 3.x as a plain forward proxy (absolute-form HTTP and
// CONNECT tunnels), no upstream, no auth. Listens on 127.0.0.1:$PORT. Run from the temp dir where
// bench/lib/peers.mjs installed bench/peers/package.json.
import { Server } from 'proxy-chain';

const port = Number(process.env.PORT);
const server = new Server({ host: '127.0.0.1', port, verbose: false });
server.on('requestFailed', () => {});
await server.listen();
console.log(`proxy-chain listening on 127.0.0.1:${port}`);
process.on('SIGTERM', () => process.exit(0));
