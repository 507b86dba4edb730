// `pac [--proxy HOST:PORT] [--pac-direct optimize|trusted|none] [--rules DIR]`: prints the PAC file the
// admin listener serves at /proxy.pac. Thin shell over catalog/pac.ts; returns the exit code.
import { renderPac, type PacDirect } from '../catalog/pac.js';
import { loadChecked, resolvePacProxy, stdio, type Io } from './rules.js';

export async function runPac(
  cfg: { rulesDir: string; listen: { host: string; port: number }; pacDirect: PacDirect },
  opts: { proxy: string | null },
  io: Io = stdio,
): Promise<number> {
  const proxy = resolvePacProxy(opts.proxy, cfg.listen, io);
  if (proxy === null) return 2;
  const loaded = await loadChecked(cfg.rulesDir, io);
  if (loaded === null) return 1;
  io.out(renderPac(loaded.catalog, { proxy, direct: cfg.pacDirect }));
  return 0;
}
