import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startRetention } from '../../../src/execution/retention.js';
import { newId } from '../../../src/ids.js';
import { createMetrics } from '../../../src/metrics.js';
import { openSqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { ExecutionRecord } from '../../../src/store/store.js';

const record = (project: string, startedAt: Date): ExecutionRecord => ({
  id: newId('exec'),
  project,
  kind: 'function',
  via: 'api',
  language: 'python',
  exitCode: 0,
  durationMs: 5,
  startedAt: startedAt.toISOString(),
  toolId: null,
  revisionId: null,
  request: {},
  result: {},
});

describe('executions log retention', () => {
  it('prunes at start by age and by count per project, and counts a failed prune', async () => {
    const store = await openSqliteStore({ file: join(mkdtempSync(join(tmpdir(), 'kiln-retention-')), 'kiln.db') });
    const old = new Date(Date.now() - 40 * 86_400_000);
    await store.executions.record(record('a', old));
    for (let i = 0; i < 5; i++) await store.executions.record(record('a', new Date()));
    for (let i = 0; i < 2; i++) await store.executions.record(record('b', new Date()));
    const metrics = createMetrics();
    const retention = startRetention({ store, days: 30, keepPerProject: 3, log: pino({ level: 'silent' }), metrics });
    await retention.prune();
    expect(await store.executions.list('a', { limit: 100 })).toHaveLength(3);
    expect(await store.executions.list('b', { limit: 100 })).toHaveLength(2);
    await retention.stop();

    await store.close();
    const failing = startRetention({ store, days: 30, keepPerProject: 3, log: pino({ level: 'silent' }), metrics });
    await failing.prune();
    await failing.stop();
    expect(await metrics.registry.metrics()).toMatch(/kiln_store_errors_total\{operation="prune_executions"\} [1-9]/);
  });
});
