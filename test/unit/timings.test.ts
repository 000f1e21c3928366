// Server-Timing: kiln's own time, stage by stage (src/timings.ts), as clients and the bench read it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StageTimer } from '../../src/timings.js';
import { buildTestApp, jsonHeaders } from '../helpers/app-fixture.js';

const parse = (header: string) =>
  header.split(', ').map((entry) => {
    const [name, dur] = entry.split(';dur=');
    return [name!, Number(dur)] as const;
  });

describe('StageTimer', () => {
  afterEach(() => vi.useRealTimers());

  it('closes each stage at its mark, adds a stage marked twice, and gives what follows the last mark to render', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const timer = new StageTimer();
    vi.advanceTimersByTime(2);
    timer.mark('parse');
    vi.advanceTimersByTime(5);
    timer.mark('box');
    vi.advanceTimersByTime(1);
    timer.mark('parse');
    vi.advanceTimersByTime(3);
    expect(parse(timer.header())).toEqual([
      ['app', 11],
      ['parse', 3],
      ['box', 5],
      ['render', 3],
    ]);
  });

  it('is only `app` when nothing was marked', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const timer = new StageTimer();
    vi.advanceTimersByTime(4);
    expect(timer.header()).toBe('app;dur=4.00');
  });
});

describe('Server-Timing on an execution', () => {
  it('names the stages of the path in order, and they add up to the whole', async () => {
    const app = await buildTestApp();
    const res = await app.post(
      '/v1/execute-function',
      { language: 'python', code: 'def execute(input):\n  return 1\n', input: {} },
      jsonHeaders,
    );
    expect(res.status).toBe(200);
    const stages = parse(res.headers.get('server-timing') ?? '');
    // the fake runner marks nothing: the runner's own stages (acquire, box, decode) are the integration tier's
    expect(stages.map(([name]) => name)).toEqual(['app', 'parse', 'resolve', 'admit', 'log', 'render']);
    const [, total] = stages[0]!;
    const sum = stages.slice(1).reduce((total, [, ms]) => total + ms, 0);
    expect(Math.abs(total - sum)).toBeLessThan(0.05);
  });

  it('is only `app` for a route that runs nothing', async () => {
    const app = await buildTestApp();
    const res = await app.app.request('/healthz');
    expect(res.headers.get('server-timing')).toMatch(/^app;dur=[\d.]+$/);
  });
});
