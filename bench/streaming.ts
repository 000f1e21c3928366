// Streaming (issue 24), in the same run as the other rows: how late a streamed line reaches the
// client after the box wrote it (the box's own clock in the line against the client's on arrival:
// one host, one clock), the cost of streaming a 1 MB output against the same output answered
// whole, and what a progress token adds to an MCP tools/call. Interleaved at the bench's pace.
// `npx tsx bench/streaming.ts` runs it alone against a kiln of its own.
import { createParser } from 'eventsource-parser';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KEY, startKilnProcess } from './kiln-process.js';
import { percentile, sleep } from './stats.js';

export interface StreamingFigures {
  language: string;
  /** ms from the box's write to the client's read of the line, p50. */
  lagP50: number;
  /** 1 MB of output, total ms p50: streamed and answered whole. */
  bigStreamed: number;
  bigPlain: number;
  /** An MCP tools/call hello, ms p50: with a progress token and without. */
  mcpProgress: number;
  mcpPlain: number;
}

const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const CODE = {
  python: {
    stamp: 'import time\nprint(f"{time.time() * 1000:.3f}", flush=True)',
    big: 'import sys\nsys.stdout.write("x" * 999_999 + "\\n")',
  },
  javascript: {
    stamp: 'console.log((performance.timeOrigin + performance.now()).toFixed(3))',
    big: 'process.stdout.write("x".repeat(999_999) + "\\n")',
  },
} as const;

/** POSTs asking for events; the client's wall-clock time of the first stdout event, its text, and the total ms. */
async function streamed(url: string, body: object) {
  const started = performance.now();
  const res = await fetch(`${url}/v1/execute`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  let first: { at: number; text: string } | null = null;
  let ended = false;
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'stdout' && !first)
        first = { at: performance.timeOrigin + performance.now(), text: (JSON.parse(e.data) as { text: string }).text };
      if (e.event === 'result') ended = true;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  if (!ended) throw new Error('a streamed execute ended without its result');
  return { first: first as { at: number; text: string } | null, ms: performance.now() - started };
}

async function plain(url: string, body: object): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/execute`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`execute answered ${res.status}`);
  await res.text();
  return performance.now() - started;
}

let rpcId = 0;
async function mcpCall(url: string, language: string, progress: boolean): Promise<number> {
  const started = performance.now();
  const code = language === 'python' ? 'print("hello")' : 'console.log("hello")';
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: ++rpcId,
      method: 'tools/call',
      params: { name: `execute_${language}`, arguments: { code }, ...(progress ? { _meta: { progressToken: rpcId } } : {}) },
    }),
  });
  const text = await res.text();
  if (!text.includes('"isError":false')) throw new Error(`bad MCP answer: ${text.slice(0, 300)}`);
  return performance.now() - started;
}

export async function measureStreaming(url: string, n: number, paceMs: number): Promise<StreamingFigures[]> {
  const figures: StreamingFigures[] = [];
  for (const language of ['python', 'javascript'] as const) {
    const lags: number[] = [];
    const big = { streamed: [] as number[], plain: [] as number[] };
    const mcp = { progress: [] as number[], plain: [] as number[] };
    for (let i = 0; i < n; i++) {
      const { first } = await streamed(url, { language, code: CODE[language].stamp });
      if (first) lags.push(first.at - Number(first.text.trim()));
      await sleep(paceMs);
      big.streamed.push((await streamed(url, { language, code: CODE[language].big })).ms);
      await sleep(paceMs);
      big.plain.push(await plain(url, { language, code: CODE[language].big }));
      await sleep(paceMs);
      mcp.progress.push(await mcpCall(url, language, true));
      await sleep(paceMs);
      mcp.plain.push(await mcpCall(url, language, false));
      await sleep(paceMs);
    }
    figures.push({
      language,
      lagP50: p50(lags),
      bigStreamed: p50(big.streamed),
      bigPlain: p50(big.plain),
      mcpProgress: p50(mcp.progress),
      mcpPlain: p50(mcp.plain),
    });
  }
  return figures;
}

export function streamingLine(f: StreamingFigures): string {
  const overhead = f.bigStreamed / f.bigPlain - 1;
  const extra = f.mcpProgress - f.mcpPlain;
  return (
    `streaming (${f.language}): a line reaches the client p50 ${f.lagP50.toFixed(2)} ms after the box wrote it (target ≤ 2 ms: ${f.lagP50 <= 2 ? 'met' : 'NOT MET'}); ` +
    `1 MB of output streamed ${f.bigStreamed.toFixed(1)} ms against ${f.bigPlain.toFixed(1)} ms answered whole (${(100 * overhead).toFixed(0)}%; target ≤ 10%: ${overhead <= 0.1 ? 'met' : 'NOT MET'}); ` +
    `MCP tools/call with a progress token ${f.mcpProgress.toFixed(1)} ms against ${f.mcpPlain.toFixed(1)} ms without (+${extra.toFixed(2)} ms; target ≤ 1 ms: ${extra <= 1 ? 'met' : 'NOT MET'})`
  );
}

async function runAlone(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-streaming-'));
  const kiln = await startKilnProcess({
    KILN_API_KEYS: KEY,
    KILN_LOG_LEVEL: 'info',
    KILN_INSTANCE: 'kiln-bench-streaming',
    KILN_DATA_DIR: join(dir, 'data'),
    ...Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => /^KILN_(POOL_|OCI_RUNTIME)/.test(e[0]) && !!e[1]),
    ),
  });
  try {
    const url = kiln.url('').replace(/\/$/, '');
    await mcpCall(url, 'python', false); // warm connections and caches
    for (const f of await measureStreaming(url, Number(process.env.BENCH_N ?? 15), Number(process.env.BENCH_PACE_MS ?? 150)))
      console.log(streamingLine(f));
  } finally {
    await kiln.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone();
