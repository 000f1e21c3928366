// The E2B dialect (issue 25), through E2B's own SDKs, in the same run as the other rows:
// Sandbox.create() (p50/p90) and its first runCode against a one-shot warm execute; and the round
// trips commands.run('echo hi') and runCode('1+1') against kiln's own session execute of the same
// work (the direct call the dialect wraps; target: each within 1.5×). Interleaved at the bench's pace.
// `npx tsx bench/e2b.ts` runs it alone against a kiln of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Sandbox } from '@e2b/code-interpreter';
import { KEY, startKilnProcess } from './kiln-process.js';
import { percentile, sleep } from './stats.js';

export interface E2bFigures {
  createP50: number;
  createP90: number;
  firstRunCode: number;
  oneShot: number;
  commandRun: number;
  runCode: number;
  /** kiln's own session calls the two above wrap: the same command (E2B's: bash -l -c), and an execute. */
  sessionCommand: number;
  sessionExecute: number;
}

const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
const p = (v: number[], q: number) => percentile(sorted(v), q);
const timed = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

export async function measureE2b(url: string, n: number, paceMs: number): Promise<E2bFigures> {
  const opts = { apiKey: KEY, apiUrl: `${url}/e2b`, sandboxUrl: `${url}/e2b/sandbox` };
  const post = (path: string, body: unknown) =>
    fetch(url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
      return r.json() as Promise<Record<string, unknown>>;
    });
  const creates: number[] = [];
  const firsts: number[] = [];
  const oneShots: number[] = [];
  for (let i = 0; i < Math.min(n, 8); i++) {
    let sbx!: Sandbox;
    creates.push(await timed(async () => (sbx = await Sandbox.create(opts))));
    firsts.push(await timed(() => sbx.runCode('1+1')));
    await sbx.kill();
    await sleep(1000); // the pool refills: each create finds a warm box, as at a steady pace
    oneShots.push(await timed(() => post('/v1/execute', { language: 'python', code: 'print(1+1)' })));
    await sleep(paceMs);
  }
  const sbx = await Sandbox.create(opts);
  const rows = { commandRun: [] as number[], runCode: [] as number[], sessionCommand: [] as number[], sessionExecute: [] as number[] };
  try {
    await sbx.runCode('0');
    await sbx.commands.run('true');
    for (let i = 0; i < n; i++) {
      rows.commandRun.push(await timed(() => sbx.commands.run('echo hi')));
      await sleep(paceMs);
      rows.sessionCommand.push(
        await timed(() => post(`/v1/sessions/${sbx.sandboxId}/commands`, { cmd: ['/bin/bash', '-l', '-c', 'echo hi'] })),
      );
      await sleep(paceMs);
      rows.runCode.push(await timed(() => sbx.runCode('1+1')));
      await sleep(paceMs);
      rows.sessionExecute.push(await timed(() => post(`/v1/sessions/${sbx.sandboxId}/execute`, { code: '1+1' })));
      await sleep(paceMs);
    }
  } finally {
    await sbx.kill();
  }
  return {
    createP50: p(creates, 50),
    createP90: p(creates, 90),
    firstRunCode: p(firsts, 50),
    oneShot: p(oneShots, 50),
    commandRun: p(rows.commandRun, 50),
    runCode: p(rows.runCode, 50),
    sessionCommand: p(rows.sessionCommand, 50),
    sessionExecute: p(rows.sessionExecute, 50),
  };
}

export function e2bLine(f: E2bFigures): string {
  const cmd = f.commandRun / f.sessionExecute;
  const code = f.runCode / f.sessionExecute;
  return (
    `e2b (SDK): Sandbox.create() p50 ${f.createP50.toFixed(1)} ms, p90 ${f.createP90.toFixed(1)} ms; its first runCode ${f.firstRunCode.toFixed(1)} ms ` +
    `(a one-shot warm execute: ${f.oneShot.toFixed(1)} ms); against kiln's own session execute (${f.sessionExecute.toFixed(2)} ms): ` +
    `commands.run('echo hi') ${f.commandRun.toFixed(2)} ms (${cmd.toFixed(2)}×; target ≤ 1.5×: ${cmd <= 1.5 ? 'met' : 'NOT MET'}; ` +
    `kiln's session command of the same bash -l -c: ${f.sessionCommand.toFixed(2)} ms), runCode('1+1') ${f.runCode.toFixed(2)} ms ` +
    `(${code.toFixed(2)}×; target ≤ 1.5×: ${code <= 1.5 ? 'met' : 'NOT MET'})`
  );
}

async function runAlone(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-e2b-'));
  const kiln = await startKilnProcess({
    KILN_API_KEYS: KEY,
    KILN_LOG_LEVEL: 'info',
    KILN_INSTANCE: 'kiln-bench-e2b',
    KILN_DATA_DIR: join(dir, 'data'),
    ...Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => /^KILN_(POOL_|OCI_RUNTIME)/.test(e[0]) && !!e[1]),
    ),
  });
  try {
    console.log(
      e2bLine(
        await measureE2b(kiln.url('').replace(/\/$/, ''), Number(process.env.BENCH_N ?? 15), Number(process.env.BENCH_PACE_MS ?? 150)),
      ),
    );
  } finally {
    await kiln.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone();
