// Sessions (issue 23): what a call in a live session costs against a one-shot warm execution of the
// same code, interleaved at the same pace (no box is started or removed for a session call); what
// creating a session costs from a warm pool; and state: a large object made once and used by 20
// calls, against remaking it in each of 20 one-shot calls.
import type { KilnProcess } from './kiln-process.js';
import { row, sleep, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };

export interface SessionFigures {
  language: string;
  create: Row;
  call: Row;
  oneShot: Row;
  /** Total ms of 20 uses: once made in a session, and remade in each one-shot call. */
  state?: { session: number; oneShot: number };
}

const CALL: Record<string, string> = {
  python: 'print("hello")\n{"hello": "world"}',
  javascript: 'console.log("hello"); ({ hello: "world" })',
};
// about 100 MB: made once in a session; remade by each one-shot call
const BIG = 'data = bytearray(100 * 1024 * 1024)\nfor i in range(0, len(data), 4096):\n    data[i] = i % 251\n';
const USE = 'sum(data[::4096]) % 1000';

async function session(kiln: KilnProcess, language: string, memory?: number): Promise<{ id: string; ms: number }> {
  const t = performance.now();
  const res = await kiln.send('POST', '/v1/sessions', { language, ...(memory ? { limits: { memory_size: memory } } : {}) });
  if (res.status !== 200) throw new Error(`session create (${language}) answered ${res.status}: ${JSON.stringify(res.json)}`);
  return { id: res.json.id, ms: performance.now() - t };
}

export async function measureSessions(
  kiln: KilnProcess,
  hello: Record<string, Hello>,
  n: number,
  paceMs: number,
): Promise<SessionFigures[]> {
  const figures: SessionFigures[] = [];
  for (const [language, body] of Object.entries(hello)) {
    const creates: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await session(kiln, language);
      creates.push(s.ms);
      await kiln.send('DELETE', `/v1/sessions/${s.id}`);
      await sleep(1000); // the pool refills: each create finds a warm box, as at a steady pace
    }
    const { id } = await session(kiln, language);
    const latencies = { call: [] as number[], oneShot: [] as number[] };
    for (let i = 0; i < 2 * n; i++) {
      const which = (i % 2 === 0) === (Math.floor(i / 2) % 2 === 0) ? 'call' : 'oneShot';
      const t = performance.now();
      const status =
        which === 'call' ? (await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: CALL[language] })).status : await kiln.call(body);
      const took = performance.now() - t;
      if (status !== 200) throw new Error(`${which} (${language}) answered ${status}`);
      latencies[which].push(took);
      await sleep(Math.max(0, paceMs - took));
    }
    await kiln.send('DELETE', `/v1/sessions/${id}`);
    figures.push({
      language,
      create: row(`session create ${language} (warm pool)`, creates),
      call: row(`session execute ${language}, 1 per ${paceMs} ms`, latencies.call),
      oneShot: row(`kiln ${language} hello interleaved with sessions`, latencies.oneShot),
      ...(language === 'python' ? { state: await measureState(kiln) } : {}),
    });
  }
  return figures;
}

/** 20 uses of a ~100 MB object: made once in a session, against remade in each of 20 one-shot calls. */
async function measureState(kiln: KilnProcess): Promise<{ session: number; oneShot: number }> {
  const { id } = await session(kiln, 'python', 512);
  let t = performance.now();
  await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: BIG, timeout: 120 });
  for (let i = 0; i < 20; i++) await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: USE });
  const inSession = performance.now() - t;
  await kiln.send('DELETE', `/v1/sessions/${id}`);
  t = performance.now();
  for (let i = 0; i < 20; i++) {
    const res = await kiln.send('POST', '/v1/execute', {
      language: 'python',
      code: `${BIG}print(${USE})`,
      limits: { memory_size: 512, execution_timeout: 120 },
    });
    if (res.status !== 200 || res.json.exit_code !== 0)
      throw new Error(`one-shot state run failed: ${JSON.stringify(res.json).slice(0, 300)}`);
  }
  return { session: inSession, oneShot: performance.now() - t };
}

export function sessionsLine(f: SessionFigures): string {
  const state = f.state
    ? `; 20 uses of a 100 MB object: ${f.state.session.toFixed(0)} ms in a session against ${f.state.oneShot.toFixed(0)} ms remade in one-shot calls (${(f.state.oneShot / f.state.session).toFixed(1)}x)`
    : '';
  return (
    `sessions (${f.language}): execute p50 ${f.call.p50.toFixed(1)} ms, p90 ${f.call.p90.toFixed(1)} ms = ${(f.call.p50 / f.oneShot.p50).toFixed(2)}x a one-shot warm execute's ${f.oneShot.p50.toFixed(1)} ms (target ≤ 0.6x); ` +
    `create p50 ${f.create.p50.toFixed(0)} ms = ${(f.create.p50 / f.oneShot.p50).toFixed(1)}x a warm execute (target ≤ 1.5x)${state}`
  );
}
