// A real engine restart in the middle of kiln's life (opt-in: KILN_TEST_ENGINE_RESTART=1, as CI sets):
// kiln recovers by itself, and removes the containers the restart ended, never another instance's.
import { describe, expect, it } from 'vitest';
import { mayRestartEngine, restartEngine } from '../helpers/engine.js';
import { TEST_INSTANCE, docker, startTestKiln, untilReady } from '../helpers/kiln.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ofInstance = (instance: string) => docker.listContainers({ all: true, filters: { label: [`kiln.instance=${instance}`] } });

describe.runIf(mayRestartEngine)('an engine restart', () => {
  it('leaves no stopped container of kiln behind, and spares another instance', async () => {
    const instance = `${TEST_INSTANCE}-restart`;
    const kiln = await startTestKiln({
      KILN_INSTANCE: instance,
      KILN_POOL_PYTHON: '2',
      KILN_POOL_JAVASCRIPT: '1',
      KILN_POOL_TYPESCRIPT: '0',
    });
    const other = await docker.createContainer({
      Image: 'kiln-python:latest',
      Labels: { 'kiln.managed': 'true', 'kiln.instance': `${instance}-other` },
    });
    try {
      expect((await untilReady(kiln.url)).status).toBe(200);
      expect((await kiln.post('/v1/execute', { language: 'python', code: 'print(1)' })).body.stdout).toBe('1\n');
      expect((await ofInstance(instance)).length).toBeGreaterThanOrEqual(3);

      await restartEngine();
      // kiln notices within its 2 s check, removes what the restart ended, and refills its pools
      let stopped = (await ofInstance(instance)).filter((c) => c.State !== 'running');
      for (let i = 0; i < 100 && stopped.length; i++) {
        await sleep(200);
        stopped = (await ofInstance(instance)).filter((c) => c.State !== 'running');
      }
      expect(stopped.map((c) => [c.State, c.Status, c.Labels['kiln.boot'], c.Labels['kiln.pool'] ?? c.Labels['kiln.execution']])).toEqual(
        [],
      );
      const res = await kiln.post('/v1/execute', { language: 'python', code: 'print(2)' });
      expect(res.body.stdout).toBe('2\n');
      expect((await other.inspect()).Id).toBe(other.id); // another instance's container: untouched
    } finally {
      await kiln.close();
      await other.remove({ force: true }).catch(() => {});
    }
  });
});
