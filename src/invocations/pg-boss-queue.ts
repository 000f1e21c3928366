import PgBoss from 'pg-boss';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { InvocationQueue } from './queue.js';

const QUEUE = 'kiln-invocations';

/**
 * The shared invocation queue: pg-boss on kiln's own Postgres, so that any kiln (replica) may take
 * any queued invocation. A job is added in the transaction that stores its invocation (pg-boss's
 * `db` option: the store's transaction runs pg-boss's INSERT). Workers fetch with SKIP LOCKED, one
 * job each, `concurrency` per kiln; a job fetched by a kiln that then died stays `active` until its
 * lease (`expireInSeconds`) runs out, when pg-boss's maintenance fails it and retries it on
 * another kiln. The job only carries the id: claiming the invocation row (queued → running, a
 * compare-and-set) decides who runs it, so a retried job never runs an invocation twice; what a
 * dead kiln was running follows the invocations' own rule (at most once: `interrupted`).
 */
export async function createPgBossQueue(deps: {
  pool: pg.Pool;
  concurrency: number;
  /** How long a fetched job may stay unfinished before it is another kiln's: longer than any run. */
  leaseSeconds: number;
  log: Logger;
  /** How often a kiln polls for jobs another kiln accepted (its own are handed over at once). */
  pollSeconds?: number;
  /** pg-boss's own schema (its tables and functions), created on first start. */
  schema?: string;
}): Promise<InvocationQueue> {
  const schema = deps.schema ?? 'kiln_queue';
  const boss = new PgBoss({
    // the store's pool: one set of connections per kiln, and no second place to configure TLS
    db: { executeSql: async (text, values) => deps.pool.query(text, values) },
    schema,
    schedule: false,
    // expiry is checked here (the lease of a dead kiln's job); one kiln does it per interval
    maintenanceIntervalSeconds: 15,
  });
  boss.on('error', (err) => deps.log.warn({ err }, 'job queue maintenance failed'));
  await installed(deps.pool, schema, async () => {
    await boss.start();
    await boss.createQueue(QUEUE, { name: QUEUE, policy: 'standard' });
  });

  const workerIds: string[] = [];
  const inflight = new Set<Promise<void>>();
  let next = 0;
  let stopping = false;

  return {
    transactional: true,
    async add(id, { delayMs = 0, tx } = {}) {
      await boss.send(
        QUEUE,
        { id },
        {
          expireInSeconds: deps.leaseSeconds,
          // retried when a kiln died holding it (its lease ran out), or could not read or claim the
          // invocation (the database away): every 5 s, for as long as that lasts (pg-boss's backoff
          // would grow to hours), since an accepted invocation must run
          retryLimit: 100_000,
          retryDelay: 5,
          retryBackoff: false,
          ...(delayMs > 0 ? { startAfter: Math.ceil(delayMs / 1000) } : {}),
          ...(tx ? { db: tx } : {}),
        },
      );
      // a job this kiln just queued is taken here at once rather than at the next poll
      if (!tx && delayMs <= 0) nudge();
    },
    nudge,
    async start(handler) {
      for (let i = 0; i < deps.concurrency; i++) {
        workerIds.push(
          await boss.work<{ id: string }>(QUEUE, { batchSize: 1, pollingIntervalSeconds: deps.pollSeconds ?? 1 }, async ([job]) => {
            // fetched as this kiln stops: not claimed, so failing it hands it to another kiln
            if (stopping) throw new Error('kiln is stopping');
            const run = handler(job!.data.id);
            inflight.add(run);
            try {
              await run;
            } finally {
              inflight.delete(run);
            }
          }),
        );
      }
    },
    async stop() {
      stopping = true;
      await boss.offWork(QUEUE);
      await Promise.allSettled([...inflight]);
      // the pool is the store's: it closes with the store
      await boss
        .stop({ graceful: false, close: false })
        .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'job queue did not stop cleanly'));
    },
  };

  function nudge() {
    if (workerIds.length) boss.notifyWorker(workerIds[next++ % workerIds.length]!);
  }
}

/**
 * Runs pg-boss's start (which installs its schema on first use) under a lock of kiln's own: its own
 * lock leaves a gap, and replicas started together were seen to collide on `create schema` there.
 */
async function installed(pool: pg.Pool, schema: string, start: () => Promise<void>): Promise<void> {
  const client = await pool.connect();
  const key = `kiln:pg-boss:${schema}`;
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [key]);
    await start();
  } finally {
    await client.query('select pg_advisory_unlock(hashtext($1))', [key]).catch(() => {});
    client.release();
  }
}
