// What MCP costs over kiln's own API: an MCP `tools/call` of execute_python / execute_javascript
// (a JSON-RPC POST to /mcp, as a remote-MCP connector sends it: a fresh server and transport per
// request, the arguments checked, the result capped and rendered for a model) against
// /v1/execute-function with the same code and input, interleaved at the same pace as the other
// warm rows, so the difference of their p50s is the MCP layer's own cost. kiln's own time
// (Server-Timing) is compared too: on two busy cores the client's side of a run moves by a
// millisecond from row to row. A saved tool called through MCP is timed as well (it also reads
// the project's catalog of tools).
import { row, sleep, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };
type Call = (body: object, path?: string) => Promise<number>;

export interface McpFigures {
  language: string;
  mcp: Row;
  savedTool: Row;
  fn: Row;
  server: { mcp: number; savedTool: number; fn: number };
}

let rpcId = 0;
const serverMs = (res: Response) => Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function mcpCall(url: (path: string) => string, key: string, name: string, args: object, serverTimes: number[]): Promise<number> {
  const res = await fetch(url('/mcp'), {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name, arguments: args } }),
  });
  serverTimes.push(serverMs(res));
  const json = (await res.json()) as { result?: { isError?: boolean; structuredContent?: { output_status?: string } } };
  if (res.status === 200 && (json.result?.isError !== false || json.result.structuredContent?.output_status !== 'valid'))
    throw new Error(`bad MCP answer: ${JSON.stringify(json).slice(0, 500)}`);
  return res.status;
}

async function saveTool(url: (path: string) => string, key: string, hello: Hello): Promise<string> {
  const name = `mcp_bench_${hello.language}`;
  const res = await fetch(url('/v1/tools'), {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name,
      description: 'kiln bench',
      language: hello.language,
      code: hello.code,
      input_schema: { type: 'object', properties: { name: { type: 'string' } } },
    }),
  });
  if (res.status !== 200) throw new Error(`could not create the ${hello.language} tool: ${res.status} ${await res.text()}`);
  return name;
}

export async function measureMcpCall(opts: {
  url: (path: string) => string;
  key: string;
  call: Call;
  /** kiln's own time of each call() so far (the bench's kiln process records it). */
  serverTimes: number[];
  hello: Record<string, Hello>;
  n: number;
  paceMs: number;
}): Promise<McpFigures[]> {
  const { url, key, call, n, paceMs } = opts;
  const figures: McpFigures[] = [];
  for (const [language, hello] of Object.entries(opts.hello)) {
    const tool = await saveTool(url, key, hello);
    const server = { mcp: [] as number[], savedTool: [] as number[], fn: [] as number[] };
    const runs = {
      mcp: () => mcpCall(url, key, `execute_${language}`, { code: hello.code, input: hello.input }, server.mcp),
      savedTool: () => mcpCall(url, key, tool, { name: hello.input }, server.savedTool),
      fn: async () => {
        const status = await call(hello, '/v1/execute-function');
        server.fn.push(opts.serverTimes.at(-1) ?? NaN);
        return status;
      },
    };
    await runs.mcp(); // the first MCP request (module warm-up), untimed
    await runs.savedTool();
    for (const list of Object.values(server)) list.length = 0;
    const latencies = { mcp: [] as number[], savedTool: [] as number[], fn: [] as number[] };
    const order = ['mcp', 'fn', 'savedTool', 'fn'] as const;
    for (let i = 0; i < 4 * n; i++) {
      // rotates so that each kind follows each other kind as often
      const which = order[(i + Math.floor(i / 4)) % 4]!;
      const t = performance.now();
      const status = await runs[which]();
      const took = performance.now() - t;
      if (status !== 200) throw new Error(`${which} (${language}) answered ${status}`);
      latencies[which].push(took);
      await sleep(Math.max(0, paceMs - took));
    }
    figures.push({
      language,
      mcp: row(`kiln ${language} MCP tools/call, 1 per ${paceMs} ms`, latencies.mcp),
      savedTool: row(`kiln ${language} MCP saved tool, 1 per ${paceMs} ms`, latencies.savedTool),
      fn: row(`kiln ${language} hello beside MCP, 1 per ${paceMs} ms`, latencies.fn),
      server: { mcp: median(server.mcp), savedTool: median(server.savedTool), fn: median(server.fn) },
    });
  }
  return figures;
}

export function mcpCallLine({ language, mcp, savedTool, fn, server }: McpFigures): string {
  const plus = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} ms`;
  return (
    `${language} MCP tools/call adds ${plus(mcp.p50 - fn.p50)} at p50 over execute-function of the same code (target ≤ 2 ms); a saved tool through MCP ${plus(savedTool.p50 - fn.p50)}; ` +
    `in kiln's own time (Server-Timing) ${plus(server.mcp - server.fn)} and ${plus(server.savedTool - server.fn)} ` +
    `(MCP p50 ${mcp.p50.toFixed(1)} ms, p90 ${mcp.p90.toFixed(1)} ms; saved tool p50 ${savedTool.p50.toFixed(1)} ms; execute-function p50 ${fn.p50.toFixed(1)} ms, p90 ${fn.p90.toFixed(1)} ms)`
  );
}
