import { describe, expect, it } from 'vitest';
import { createRunEvents, type RunEvent } from '../../../src/execution/run-events.js';

async function all(events: AsyncIterable<RunEvent[]> | null): Promise<RunEvent[]> {
  const got: RunEvent[] = [];
  for await (const batch of events!) {
    expect(batch.length).toBeGreaterThan(0); // a step gives at least one event
    got.push(...batch);
  }
  return got;
}

describe('run events', () => {
  it('numbers a run’s events from 1, keeps UTF-8 whole across chunks, and serves them from any id on', async () => {
    const hub = createRunEvents();
    const r = hub.recorder('p1');
    r.started('exec_1');
    const euro = Buffer.from('€');
    r.output('stdout', Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
    r.output('stdout', euro.subarray(1));
    r.output('stderr', Buffer.from('oops'));
    const live = all(hub.follow('exec_1', 'p1', 0, new AbortController().signal));
    r.end('{"ok":true}');
    const events = await live;
    expect(events.map((e) => [e.id, e.event, e.data])).toEqual([
      [1, 'start', '{"id":"exec_1"}'],
      [2, 'stdout', '{"text":"a"}'],
      [3, 'stdout', '{"text":"€"}'],
      [4, 'stderr', '{"text":"oops"}'],
      [5, 'result', '{"ok":true}'],
    ]);
    expect((await all(hub.follow('exec_1', 'p1', 3, new AbortController().signal))).map((e) => e.id)).toEqual([4, 5]);
    expect(hub.follow('exec_1', 'p2', 0, new AbortController().signal)).toBeNull();
    expect(hub.follow('exec_2', 'p1', 0, new AbortController().signal)).toBeNull();
  });

  it('ends a follower with no result for a run that ends without one, and stops one whose client went away', async () => {
    const hub = createRunEvents();
    const r = hub.recorder('p');
    r.started('exec_a');
    const gone = new AbortController();
    const waiting = all(hub.follow('exec_a', 'p', 1, gone.signal));
    gone.abort();
    expect(await waiting).toEqual([]);
    const following = all(hub.follow('exec_a', 'p', 0, new AbortController().signal));
    r.end(null);
    expect((await following).map((e) => e.event)).toEqual(['start']);
  });
});
