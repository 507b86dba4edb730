// The start-up warm-up runs a spliced and (in --mode inspect) an inspected tunnel through a private copy of
// the handlers: it must succeed, leave no record, count no metric, leave no connection behind, and the
// proxy then works as usual.
import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { tempDir } from '../helpers/temp.js';

for (const mode of ['log', 'inspect'] as const) {
  t.test(`--mode ${mode}: the warm-up tunnels run before the proxy listens, and leave no trace`, async (t) => {
    const certs = await tempDir('ap-warm-');
    const proxy = await startProxy({ mode, certs });
    t.teardown(() => proxy.stop());
    const [start] = await proxy.waitFor('start');
    t.match(start, { event: 'start', mode, warmed: true }, 'both warm-up tunnels completed');
    t.type(start!.warmupMs, 'number');
    t.same(proxy.records.filter((r) => r.event !== 'start'), [], 'no connect or request record from the warm-up');
    const text = await proxy.app.metrics.render();
    t.match(text, /^autopatch_proxy_requests_total\{decision="bypass"\} 0$/m, 'the counters are there');
    t.notMatch(text, /^autopatch_proxy_(connections_total|requests_total|bytes_total|cert_cache_total)\{[^}]*\} [1-9]/m, 'no tunnel, request, byte or certificate lookup counted');
    t.notMatch(text, /^autopatch_proxy_connect_duration_seconds_count [1-9]/m);
    t.equal(proxy.app.ctx.tunnels.size, 0, 'no tunnel of the real proxy');
  });
}
