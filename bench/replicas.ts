// Replicas (issue 14): executions per second with 1, 2 and 3 kiln processes sharing one PostgreSQL
// and this machine's one Docker engine, against one kiln on SQLite in the same run. The engine's
// container churn is the ceiling every row is set against: more replicas add kiln's CPU and HTTP
// capacity, not the engine's, and on two cores they also compete with it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { closedLoop } from './load.js';
import { startKilnProcess, type KilnProcess } from './kiln-process.js';
import { row, type Row } from './stats.js';

const SCRIPT = { language: 'python', code: 'print("hello")' };

export interface ReplicaFigures {
  sqlite: Row;
  postgres: Row[];
}

/** `n` script hellos through `kilns` round-robin, `perKiln` in flight at each. */
async function burst(name: string, kilns: KilnProcess[], n: number, perKiln: number): Promise<Row> {
  let k = 0;
  const { latencies, seconds } = await closedLoop(n, perKiln * kilns.length, () => kilns[k++ % kilns.length]!.call(SCRIPT, '/v1/execute'));
  return row(name, latencies, seconds);
}

export async function measureReplicas(opts: {
  env: Record<string, string>;
  databaseUrl: string;
  n: number;
  perKiln: number;
}): Promise<ReplicaFigures> {
  const base = (name: string) => ({ ...opts.env, KILN_INSTANCE: name, KILN_DATA_DIR: mkdtempSync(join(tmpdir(), `${name}-`)) });
  const one = await startKilnProcess(base('kiln-bench-sqlite'));
  let sqlite: Row;
  try {
    await burst('warm-up', [one], 10, opts.perKiln);
    sqlite = await burst('1 kiln, SQLite', [one], opts.n, opts.perKiln);
  } finally {
    await one.stop();
  }

  const database = `kiln_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: opts.databaseUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(opts.databaseUrl);
  url.pathname = `/${database}`;
  const shared = { KILN_DATABASE_URL: url.toString(), KILN_SECRETS_KEY: randomBytes(32).toString('base64') };
  const kilns: KilnProcess[] = [];
  const postgres: Row[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      kilns.push(await startKilnProcess({ ...base(`kiln-bench-replica-${i}`), ...shared }));
      await burst('warm-up', kilns, 10 * i, opts.perKiln);
      postgres.push(await burst(`${i} kiln${i > 1 ? 's' : ''}, PostgreSQL`, kilns, opts.n, opts.perKiln));
    }
  } finally {
    await Promise.all(kilns.map((k) => k.stop()));
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
  return { sqlite, postgres };
}

export function replicasLine({ sqlite, postgres }: ReplicaFigures, churn: number): string {
  const rate = (r: Row) => `${r.perSecond!.toFixed(1)} exec/s (${(r.perSecond! / churn).toFixed(2)}x churn, p50 ${r.p50.toFixed(0)} ms)`;
  return (
    `replicas on one engine (churn ${churn.toFixed(1)} containers/s): 1 kiln on SQLite ${rate(sqlite)}; ` +
    postgres.map((r, i) => `${i + 1} on PostgreSQL ${rate(r)}`).join('; ')
  );
}
