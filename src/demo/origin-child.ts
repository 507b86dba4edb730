// Entry of the demo's origin process (forked by origins.ts spawnDemoOrigins): starts the origins, reports
// their ports and CA over IPC, closes them on "close" or when the parent goes away. Nothing else.
import { startDemoOrigins, type DemoOrigins } from './origins.js';

interface StartMessage {
  type: 'start';
  dir: string;
  hosts: string[];
}

let origins: DemoOrigins | null = null;
const quit = (): void => {
  void (origins ? origins.close() : Promise.resolve()).finally(() => process.exit(0));
};

process.on('message', (m: StartMessage | { type: 'close' }) => {
  if (m.type === 'close') return quit();
  startDemoOrigins(m.dir, m.hosts).then(
    (o) => {
      origins = o;
      const { caPem, caFile, httpsPort, httpPort, hosts, connectTo } = o;
      process.send!({ type: 'ready', origins: { caPem, caFile, httpsPort, httpPort, hosts, connectTo } });
    },
    (e: Error) => {
      process.send!({ type: 'failed', message: e.message }, () => process.exit(1));
    },
  );
});
process.on('disconnect', quit); // the demo ended or died: never outlive it
