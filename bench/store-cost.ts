// What the executions log costs each execution: kiln records every run before it answers (so the
// id in the answer is readable at once), so the insert sits on every request's path. Timed here by
// the direct call, on a store opened exactly as kiln opens its own, with records built by the very
// functions the executor uses: the figure is the log's own, without HTTP or a container around it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggedResult } from '../src/execution/executor.js';
import { loggedRequest } from '../src/execution/logged-request.js';
import { newId } from '../src/ids.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import type { ExecutionRecord, Store } from '../src/store/store.js';
import { row, type Row } from './stats.js';

const HELLO_CODE = 'def execute(input):\n    print("hello")\n    return {"hello": input}';
const MIB = 1024 * 1024;

/** A Python hello as the executor logs it: loggedRequest + loggedResult, with `stdout` as given. */
function helloRecord(stdout: string): ExecutionRecord {
  const request = loggedRequest(
    { project: 'default', mode: 'function', target: { kind: 'code', language: 'python', code: HELLO_CODE }, input: 'world' },
    'function',
    'python',
    null,
  );
  const result = loggedResult({
    exitCode: 0,
    stdout,
    stderr: '',
    stdoutTruncated: stdout.length >= MIB,
    stderrTruncated: false,
    stopReason: 'exited',
    durationMs: 31,
    outputJson: '{"hello": "world"}',
    outputStatus: 'valid',
  });
  return {
    id: newId('exec'), // a fresh id each time: ids are the primary key, as in kiln
    project: 'default',
    kind: 'function',
    via: 'api',
    language: 'python',
    exitCode: 0,
    durationMs: 31,
    startedAt: new Date().toISOString(),
    toolId: null,
    revisionId: null,
    request,
    result,
  };
}

/** Times `n` sequential inserts after `warm` untimed ones (first statements compile, the WAL grows). */
async function timeInserts(store: Store, stdout: string, warm: number, n: number): Promise<number[]> {
  for (let i = 0; i < warm; i++) await store.executions.record(helloRecord(stdout));
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const record = helloRecord(stdout); // built outside the timing: the executor has it in hand anyway
    const t = performance.now();
    await store.executions.record(record);
    latencies.push(performance.now() - t);
  }
  return latencies;
}

export interface StoreCost {
  hello: Row;
  mebibyte: Row;
  postgres?: { hello: Row; mebibyte: Row };
}

/** The executions log's cost on SQLite, and on PostgreSQL (the replicas' store) when `postgresUrl` answers. */
export async function measureStoreCost(n = 500, postgresUrl?: string): Promise<StoreCost> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-store-'));
  const sqlite = await openSqliteStore({ file: join(dir, 'kiln.db') });
  try {
    const figures: StoreCost = await timeStore(sqlite, 'executions log', n);
    if (postgresUrl) {
      const schema = `kiln_bench_${process.pid}`;
      const { store, pool } = await openPostgresStore({ url: postgresUrl, schema });
      try {
        figures.postgres = await timeStore(store, 'executions log (Postgres)', n);
      } finally {
        await pool.query(`drop schema "${schema}" cascade`);
        await store.close();
      }
    }
    return figures;
  } finally {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeStore(store: Store, name: string, n: number): Promise<{ hello: Row; mebibyte: Row }> {
  const hello = row(`${name}: record a hello`, await timeInserts(store, 'hello\n', 50, n));
  // The worst case a run can log: stdout at the cap (KILN_OUTPUT_LIMIT_BYTES, 1 MiB by default).
  // Fewer of them: each writes a MiB to the WAL, and a p50 needs no more.
  const line = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  const big = line.repeat(Math.ceil(MIB / line.length)).slice(0, MIB);
  const mebibyte = row(`${name}: record 1 MiB of stdout`, await timeInserts(store, big, 5, Math.min(n, 100)));
  return { hello, mebibyte };
}

export function storeCostLine({ hello, mebibyte, postgres }: StoreCost): string {
  return (
    `executions log: +${hello.p50.toFixed(2)} ms per execution at p50 (target ≤ 0.5 ms); p99 ${hello.p99.toFixed(2)} ms; ` +
    `with 1 MiB of stdout (the cap) p50 ${mebibyte.p50.toFixed(2)} ms, p99 ${mebibyte.p99.toFixed(2)} ms` +
    (postgres
      ? `; on PostgreSQL (local, same run) +${postgres.hello.p50.toFixed(2)} ms at p50 (${(postgres.hello.p50 / hello.p50).toFixed(1)}x SQLite), p99 ${postgres.hello.p99.toFixed(2)} ms; 1 MiB p50 ${postgres.mebibyte.p50.toFixed(2)} ms`
      : '; PostgreSQL not measured (none answered at KILN_TEST_DATABASE_URL)')
  );
}
