import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { watchEngine } from '../../../src/sandbox/engine-watch.js';
import { fakeDocker } from '../../helpers/app-fixture.js';

describe('the engine watcher', () => {
  it('sweeps at start, stays quiet while up, and after an outage sweeps with the time it began, even when the first sweep fails', async () => {
    let up = true;
    let sweepFails = 0;
    const sweeps: (number | undefined)[] = [];
    const docker = fakeDocker({
      ping: async () => {
        if (!up) throw new Error('ECONNREFUSED');
      },
      removeLeftovers: async (_instance, _boot, since) => {
        if (sweepFails-- > 0) throw new Error('list timed out');
        sweeps.push(since);
        return 0;
      },
    });
    const watch = watchEngine({ docker, instance: 'i', boot: 'b', log: pino({ level: 'silent' }), intervalMs: 60_000 });
    await watch.check();
    expect(sweeps).toEqual([undefined]); // the start-up sweep: earlier boots only
    await watch.check();
    expect(sweeps).toHaveLength(1); // up and tidy: nothing to do

    up = false;
    const outage = Math.floor(Date.now() / 1000);
    await watch.check();
    await new Promise((r) => setTimeout(r, 2100)); // a sweep that moved the start would see it 2 s later
    up = true;
    sweepFails = 1;
    await watch.check(); // the engine answers, the sweep fails: still down, the outage's start unchanged
    await watch.check();
    watch.stop();
    expect(sweeps).toHaveLength(2);
    expect(sweeps[1]).toBeGreaterThanOrEqual(outage);
    expect(sweeps[1]).toBeLessThan(outage + 2);
  });
});
