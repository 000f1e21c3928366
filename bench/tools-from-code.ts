// Tools called from code (issue 27), in the same run as the other rows: a call's cost seen from the
// calling program (timed inside its box: its tunnel to kiln, the child's own warm box, the answer
// back) against a one-shot warm execute of the same tool from a client (target: p50 ≤ 1.5×); and one
// MCP execute_with_tools program making 20 calls against 20 MCP tools/call of the same tool from a
// client: wall time, and bytes handed back to the client. `npx tsx bench/tools-from-code.ts` runs it alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { KEY, startKilnProcess } from './kiln-process.js';
import { percentile, sleep } from './stats.js';

export interface ToolsFromCodeFigures {
  child: number;
  oneShot: number;
  program: { ms: number; bytes: number };
  separate: { ms: number; bytes: number };
}

const p50 = (v: number[]) =>
  percentile(
    [...v].sort((a, b) => a - b),
    50,
  );

export async function measureToolsFromCode(url: string, n: number, paceMs: number): Promise<ToolsFromCodeFigures> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
    return (await r.json()) as Record<string, any>;
  };
  const name = `bench_add_${Date.now().toString(36)}`;
  const tool = await post('/v1/tools', {
    name,
    language: 'python',
    input_schema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
    code: 'def execute(input):\n    return {"sum": input["a"] + input["b"]}',
  });
  const oneShots: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await post(`/v1/tools/${tool.id}/execute`, { input: { a: i, b: 1 } });
    oneShots.push(performance.now() - t);
    if (r.output?.sum !== i + 1) throw new Error('a wrong answer in the bench');
    await sleep(paceMs);
  }
  // each call timed in the calling box, at the bench's pace (the pool refills between calls, as for the one-shots)
  const perProgram = Math.min(10, n);
  const child: number[] = [];
  for (let run = 0; run < Math.max(2, Math.ceil(n / perProgram)); run++) {
    const r = await post('/v1/execute-function', {
      language: 'python',
      tools: [tool.id],
      input: null,
      limits: { execution_timeout: 60 },
      code: [
        `from kiln_tools import ${name}`,
        'import time',
        'def execute(input):',
        '    times = []',
        `    for i in range(${perProgram}):`,
        '        t = time.perf_counter()',
        `        assert ${name}(a=i, b=1)["sum"] == i + 1`,
        '        times.append((time.perf_counter() - t) * 1000)',
        `        time.sleep(${paceMs / 1000})`,
        '    return times',
      ].join('\n'),
    });
    if (r.output_status !== 'valid') throw new Error(`the tools program failed: ${r.execution?.stderr}`);
    child.push(...(r.output as number[]).slice(1)); // the first call of each program warms its tunnel
    await sleep(1000);
  }
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEY}` } } }),
  );
  try {
    const separate = { ms: 0, bytes: 0 };
    let t = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = await client.callTool({ name, arguments: { a: i, b: 1 } });
      separate.bytes += JSON.stringify(r).length;
    }
    separate.ms = performance.now() - t;
    await sleep(2000);
    t = performance.now();
    const r = await client.callTool({
      name: 'execute_with_tools',
      arguments: { code: `from kiln_tools import ${name}\nprint(sum(${name}(a=i, b=1)["sum"] for i in range(20)))`, tools: [name] },
    });
    const program = { ms: performance.now() - t, bytes: JSON.stringify(r).length };
    if (!JSON.stringify(r).includes('210')) throw new Error(`the execute_with_tools program failed: ${JSON.stringify(r).slice(0, 500)}`);
    return { child: p50(child), oneShot: p50(oneShots), program, separate };
  } finally {
    await client.close();
  }
}

export function toolsFromCodeLine(f: ToolsFromCodeFigures): string {
  const ratio = f.child / f.oneShot;
  return (
    `tools from code: a call seen from the calling program p50 ${f.child.toFixed(1)} ms against a one-shot warm execute of the same tool ` +
    `${f.oneShot.toFixed(1)} ms (${ratio.toFixed(2)}×; target ≤ 1.5×: ${ratio <= 1.5 ? 'met' : 'NOT MET'}); ` +
    `20 calls in one MCP execute_with_tools ${f.program.ms.toFixed(0)} ms and ${f.program.bytes} bytes back, ` +
    `against 20 MCP tools/call ${f.separate.ms.toFixed(0)} ms and ${f.separate.bytes} bytes`
  );
}

async function runAlone(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-tools-'));
  const kiln = await startKilnProcess({
    KILN_API_KEYS: KEY,
    KILN_LOG_LEVEL: 'info',
    KILN_INSTANCE: 'kiln-bench-tools',
    KILN_DATA_DIR: join(dir, 'data'),
    ...Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => /^KILN_(POOL_|OCI_RUNTIME)/.test(e[0]) && !!e[1]),
    ),
  });
  try {
    const url = kiln.url('').replace(/\/$/, '');
    console.log(
      toolsFromCodeLine(await measureToolsFromCode(url, Number(process.env.BENCH_N ?? 15), Number(process.env.BENCH_PACE_MS ?? 150))),
    );
  } finally {
    await kiln.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone();
