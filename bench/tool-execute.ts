// What a saved tool costs over sending its code: POST /v1/tools/{id}/execute looks the tool up in
// the store (and checks the input against its schema, when it has one) before the same run as
// /v1/execute-function. The two are interleaved, alternating which goes first, at the pace of the
// "half the churn rate" rows: both see the same engine, the same pool refills and the same noise,
// so the difference of their p50s is the tool's own cost.
import { sleep, row, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };
/** bench.ts's call(): posts `body` to `path` and returns the status (it throws on a wrong answer). */
type Call = (body: object, path?: string) => Promise<number>;

export interface ToolFigures {
  language: string;
  tool: Row;
  fn: Row;
}

async function createTool(url: (path: string) => string, key: string, hello: Hello): Promise<string> {
  const res = await fetch(url('/v1/tools'), {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench hello ${hello.language}`, description: 'kiln bench', language: hello.language, code: hello.code }),
  });
  const json = (await res.json()) as { id?: string };
  if (res.status !== 200 || !json.id) throw new Error(`could not create the ${hello.language} tool: ${res.status} ${JSON.stringify(json)}`);
  return json.id;
}

export async function measureToolExecute(opts: {
  url: (path: string) => string;
  key: string;
  call: Call;
  hello: Record<string, Hello>;
  n: number;
  paceMs: number;
}): Promise<ToolFigures[]> {
  const { call, n, paceMs } = opts;
  const figures: ToolFigures[] = [];
  for (const [language, hello] of Object.entries(opts.hello)) {
    const id = await createTool(opts.url, opts.key, hello);
    const runs = {
      tool: () => call({ input: hello.input }, `/v1/tools/${id}/execute`),
      fn: () => call(hello, '/v1/execute-function'),
    };
    await runs.tool(); // the first lookup of the tool, untimed, as the warm-up of the other rows
    const latencies = { tool: [] as number[], fn: [] as number[] };
    for (let i = 0; i < 2 * n; i++) {
      // pairs alternate their order (tool, fn, fn, tool, …): neither always follows the other
      const which = (i % 2 === 0) === (Math.floor(i / 2) % 2 === 0) ? 'tool' : 'fn';
      const t = performance.now();
      const status = await runs[which]();
      const took = performance.now() - t;
      // a 429 or a 503 would be a different measurement altogether: stop rather than print it
      if (status !== 200) throw new Error(`${which === 'tool' ? 'tool execute' : 'execute-function'} (${language}) answered ${status}`);
      latencies[which].push(took);
      await sleep(Math.max(0, paceMs - took));
    }
    figures.push({
      language,
      tool: row(`kiln ${language} tool execute, 1 per ${paceMs} ms`, latencies.tool),
      fn: row(`kiln ${language} hello interleaved, 1 per ${paceMs} ms`, latencies.fn),
    });
  }
  return figures;
}

export function toolExecuteLine({ language, tool, fn }: ToolFigures): string {
  const added = tool.p50 - fn.p50;
  return (
    `${language} tool execute adds ${added >= 0 ? '+' : ''}${added.toFixed(1)} ms at p50 over execute-function (target ≤ 1 ms) ` +
    `(tool p50 ${tool.p50.toFixed(1)} ms, p90 ${tool.p90.toFixed(1)} ms; execute-function p50 ${fn.p50.toFixed(1)} ms, p90 ${fn.p90.toFixed(1)} ms)`
  );
}
