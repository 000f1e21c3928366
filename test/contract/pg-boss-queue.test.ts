import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { createPgBossQueue } from '../../src/invocations/pg-boss-queue.js';
import type { InvocationQueue } from '../../src/invocations/queue.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { InvocationRecord } from '../../src/store/invocations/records.js';
import { requirePostgres, testDatabaseUrl } from '../helpers/postgres.js';
import { newProject } from './records.js';

// The shared invocation queue (pg-boss) on a real PostgreSQL: jobs go in with the invocation's own
// transaction, and two kilns on one queue take each job once.
const url = testDatabaseUrl();
const schema = `kiln_queue_test_${randomBytes(3).toString('hex')}`;
const log = pino({ level: 'silent' });
const admin = new pg.Pool({ connectionString: url, max: 1 });
const opened: { store: PostgresStore; queue: InvocationQueue }[] = [];
/** Every job any kiln of this file ran (they all share one queue): which, by whom, when. */
const runs: { id: string; by: number; at: number }[] = [];
const ran = (id: string) => runs.filter((r) => r.id === id);

async function kiln() {
  const by = opened.length;
  const handler = async (id: string) => {
    runs.push({ id, by, at: Date.now() });
    await new Promise((r) => setTimeout(r, 30));
  };
  const store = await openPostgresStore({ url, schema, poolSize: 4 });
  const queue = await createPgBossQueue({
    pool: store.pool,
    concurrency: 2,
    leaseSeconds: 60,
    log,
    pollSeconds: 0.5,
    schema: `${schema}_jobs`,
  });
  await queue.start(handler);
  opened.push({ store, queue });
  return { store: store.store, queue };
}

const anInvocation = (project: string): InvocationRecord => ({
  id: newId('exec'),
  project,
  via: 'api',
  status: 'queued',
  reason: null,
  callbackUrl: null,
  createdAt: new Date().toISOString(),
  startedAt: null,
  endedAt: null,
  webhook: null,
});
const waitFor = async (done: () => boolean, ms = 10_000) => {
  const stop = Date.now() + ms;
  while (!done()) {
    if (Date.now() > stop) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(requirePostgres);

afterAll(async () => {
  for (const { store, queue } of opened) {
    await queue.stop();
    await store.store.close();
  }
  await admin.query(`drop schema if exists "${schema}" cascade`);
  await admin.query(`drop schema if exists "${schema}_jobs" cascade`);
  await admin.end();
});

describe('pg-boss invocation queue', () => {
  it('queues a job with the transaction that stores the invocation, and none when it rolls back', async () => {
    const { store, queue } = await kiln();
    const project = newProject();
    const kept = anInvocation(project);
    const lost = anInvocation(project);
    await store.invocations.create(kept, 's', (tx) => queue.add(kept.id, { tx }));
    await expect(
      store.invocations.create(lost, 's', async (tx) => {
        await queue.add(lost.id, { tx });
        throw new Error('the request was refused after all');
      }),
    ).rejects.toThrow('refused');
    queue.nudge();
    await waitFor(() => ran(kept.id).length > 0);
    const jobs = await admin.query(`select count(*)::int as n from "${schema}_jobs".job where data->>'id' = $1`, [lost.id]);
    expect(jobs.rows[0].n).toBe(0);
    expect(ran(lost.id)).toEqual([]);
  });

  it('holds a delayed job until its time', async () => {
    const { queue } = await kiln();
    const id = newId('exec');
    const at = Date.now();
    await queue.add(id, { delayMs: 1500 });
    await waitFor(() => ran(id).length > 0);
    expect(ran(id)[0]!.at - at).toBeGreaterThanOrEqual(900); // pg-boss counts whole seconds
  });

  it('hands each job to one kiln of several', async () => {
    const [a, b] = [await kiln(), await kiln()];
    const ids = Array.from({ length: 30 }, () => newId('exec'));
    await Promise.all(ids.map((id, i) => (i % 2 ? a : b).queue.add(id)));
    await waitFor(() => ids.every((id) => ran(id).length > 0), 20_000);
    await new Promise((r) => setTimeout(r, 1000)); // a second taker would show by now
    for (const id of ids) expect(ran(id)).toHaveLength(1);
    expect(new Set(ids.map((id) => ran(id)[0]!.by)).size).toBeGreaterThan(1); // spread, not all on one
  });
});
