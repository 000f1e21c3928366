// `--runtime runsc`: the whole bench runs under gVisor, and a second kiln under runc, started after
// the first has stopped (so neither shares the engine with the other), gives the same run's baseline
// for the three figures gVisor is judged by: warm latency, pooled-box start time and saturation.
// Both kilns get the same workload up to each figure: the same pace and n for the warm rows, the
// refill means read right after them (initial fill + those rows' refills; saturation's contended
// starts would weigh differently in each), the same closed loop at the concurrency bound.
import { startKilnProcess, type KilnProcess } from './kiln-process.js';
import { paced, saturate } from './load.js';
import { row, type Row } from './stats.js';

export type OciRuntime = 'runc' | 'runsc';
const RUNTIMES: readonly string[] = ['runc', 'runsc'];

/** `--runtime runsc` or `--runtime=runsc` (after `npm run bench --`); runc when absent. */
export function parseRuntime(argv: string[]): OciRuntime {
  for (const [i, arg] of argv.entries()) {
    if (arg !== '--runtime' && !arg.startsWith('--runtime=')) continue;
    const value = arg === '--runtime' ? argv[i + 1] : arg.slice('--runtime='.length);
    if (!value || !RUNTIMES.includes(value)) throw new Error(`--runtime must be runc or runsc, not ${JSON.stringify(value ?? '')}`);
    return value as OciRuntime;
  }
  return 'runc';
}

export interface RuntimeFigures {
  warm: Record<string, Row>;
  refill: Record<string, number>;
  saturation: Row;
}

/** The warm rows: `n` hellos per language through execute-function, one every `paceMs`. */
export async function warmRows(
  kiln: KilnProcess,
  hello: Record<string, object>,
  n: number,
  paceMs: number,
  prefix = '',
): Promise<Record<string, Row>> {
  const rows: Record<string, Row> = {};
  for (const [language, body] of Object.entries(hello))
    rows[language] = row(`${prefix}kiln ${language} hello, 1 per ${paceMs} ms`, await paced(n, paceMs, () => kiln.call(body)));
  return rows;
}

/** The runc baseline, from a kiln of its own: `env` must give it its own KILN_INSTANCE and KILN_DATA_DIR. */
export async function measureRuncBaseline(opts: {
  env: Record<string, string>;
  hello: Record<string, object>;
  n: number;
  paceMs: number;
  concurrency: number;
}): Promise<RuntimeFigures> {
  const kiln = await startKilnProcess({ ...opts.env, KILN_OCI_RUNTIME: 'runc' });
  try {
    for (const body of Object.values(opts.hello)) await kiln.call(body); // warm connections and caches, as the main kiln
    const warm = await warmRows(kiln, opts.hello, opts.n, opts.paceMs, 'runc: ');
    const refill = await kiln.refillMeans();
    const saturation = await saturate(
      `runc: kiln at saturation (${opts.concurrency} in flight)`,
      opts.n * 2,
      opts.concurrency,
      Object.values(opts.hello),
      (b) => kiln.call(b),
    );
    return { warm, refill, saturation };
  } finally {
    await kiln.stop();
  }
}

export function comparisonLine(runtime: OciRuntime, measured: RuntimeFigures, runc: RuntimeFigures): string {
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const warm = Object.keys(runc.warm).map((language) => {
    const [a, b] = [measured.warm[language]!.p50, runc.warm[language]!.p50];
    return `${language} ${a.toFixed(1)} vs ${b.toFixed(1)} ms (${x(a, b)}, target ≤ 1.3x${a / b <= 1.3 ? '' : ': OVER'})`;
  });
  const refill = Object.keys(runc.refill).map((pool) => {
    const [a, b] = [1000 * measured.refill[pool]!, 1000 * runc.refill[pool]!];
    return `${pool} ${a.toFixed(0)} vs ${b.toFixed(0)} ms (${x(a, b)})`;
  });
  const [sa, sb] = [measured.saturation.perSecond!, runc.saturation.perSecond!];
  return (
    `${runtime} vs runc (same run): warm p50 ${warm.join(', ')}; refill ${refill.join(', ')}; ` +
    `saturation ${sa.toFixed(1)} vs ${sb.toFixed(1)} exec/s (${x(sa, sb)})`
  );
}
