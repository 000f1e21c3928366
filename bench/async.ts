// Async invocations (`Prefer: respond-async`): how fast the 202 comes back (the invocation checked,
// sealed and stored), how long a stored one waits for a worker on an idle kiln (created_at →
// started_at, as kiln stamps them), and a burst's throughput against the same burst sent
// synchronously at the concurrency bound, in the same run.
import { closedLoop } from './load.js';
import { row, sleep, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };

export interface AsyncFigures {
  accepted: Row;
  startDelay: Row;
  burst: { n: number; asyncSeconds: number; syncSeconds: number };
}

export async function measureAsync(opts: {
  url: (path: string) => string;
  key: string;
  hello: Hello;
  n: number;
  paceMs: number;
  concurrency: number;
}): Promise<AsyncFigures> {
  const { url, key, hello, n, paceMs } = opts;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const submit = async () => {
    const res = await fetch(url('/v1/execute-function'), {
      method: 'POST',
      headers: { ...headers, prefer: 'respond-async' },
      body: JSON.stringify(hello),
    });
    if (res.status !== 202) throw new Error(`async execute-function answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const view = async (id: string) =>
    (await (await fetch(url(`/v1/executions/${id}`), { headers })).json()) as { status: string; created_at: string; started_at?: string };
  const finished = async (ids: string[]) => {
    for (const id of ids) while ((await view(id)).status !== 'finished') await sleep(5);
  };

  // one at a time, each run finished before the next: the 202's latency, and the wait for a worker
  const accepted: number[] = [];
  const delays: number[] = [];
  await finished([await submit()]); // warm-up
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const id = await submit();
    accepted.push(performance.now() - t);
    await finished([id]);
    const v = await view(id);
    delays.push(Date.parse(v.started_at!) - Date.parse(v.created_at));
    await sleep(paceMs);
  }

  // a burst: all accepted at once, then polled until every one has finished; against the same burst synchronous
  const burst = 2 * n;
  let t = performance.now();
  const ids = await Promise.all(Array.from({ length: burst }, submit));
  await finished(ids);
  const asyncSeconds = (performance.now() - t) / 1000;
  await sleep(2000);
  t = performance.now();
  await closedLoop(burst, opts.concurrency, async () => {
    const res = await fetch(url('/v1/execute-function'), { method: 'POST', headers, body: JSON.stringify(hello) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`execute-function answered ${res.status}`);
  });
  const syncSeconds = (performance.now() - t) / 1000;

  return {
    accepted: row(`async ${hello.language}: 202 accepted, 1 per ${paceMs} ms`, accepted),
    startDelay: row(`async ${hello.language}: stored → run started (idle)`, delays),
    burst: { n: burst, asyncSeconds, syncSeconds },
  };
}

export function asyncLine({ accepted, startDelay, burst }: AsyncFigures, asyncConcurrency: number, concurrency: number): string {
  return (
    `async invocations: 202 p50 ${accepted.p50.toFixed(1)} ms, p90 ${accepted.p90.toFixed(1)} ms; stored → run started on an idle kiln p50 ${startDelay.p50.toFixed(0)} ms, p90 ${startDelay.p90.toFixed(0)} ms (target ≤ 5 ms); ` +
    `a burst of ${burst.n}: async ${(burst.n / burst.asyncSeconds).toFixed(1)} exec/s (${asyncConcurrency} workers) vs synchronous ${(burst.n / burst.syncSeconds).toFixed(1)} exec/s (${concurrency} in flight)`
  );
}
