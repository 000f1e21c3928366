import { describe, expect, it } from 'vitest';
import { createLiveLogs } from '../../../src/runtimes/builds/live-logs.js';

describe('live build logs', () => {
  it('gives a late follower the log so far, then each new piece, then the end; and forgets the build', () => {
    const logs = createLiveLogs();
    const writer = logs.open('key1');
    writer.write(Buffer.from('Collecting a\n'));
    const live = logs.get('key1')!;
    expect(live.text()).toBe('Collecting a\n');
    const seen: string[] = [];
    let ended = 0;
    live.follow(
      (t) => seen.push(t),
      () => ended++,
    );
    writer.write(Buffer.from('Installing a\n'));
    writer.end();
    expect(seen).toEqual(['Installing a\n']);
    expect(ended).toBe(1);
    expect(logs.get('key1')).toBeUndefined();
  });

  it('never cuts a character in two across chunks, and keeps only the end of a long log, saying so', () => {
    const logs = createLiveLogs();
    const writer = logs.open('k');
    const euro = Buffer.from('€');
    const seen: string[] = [];
    logs.get('k')!.follow(
      (t) => seen.push(t),
      () => {},
    );
    writer.write(euro.subarray(0, 1));
    writer.write(euro.subarray(1));
    expect(seen).toEqual(['€']);
    writer.write(Buffer.from('x'.repeat(300 * 1024)));
    const text = logs.get('k')!.text();
    expect(text.startsWith('[earlier output cut]\n')).toBe(true);
    expect(text.length).toBeLessThan(257 * 1024 + 30);
    expect(text.endsWith('x')).toBe(true);
  });

  it('a follower who took the log just as the build ended is told of the end', async () => {
    const logs = createLiveLogs();
    const writer = logs.open('k');
    const live = logs.get('k')!;
    writer.end();
    let ended = 0;
    live.follow(
      () => {},
      () => ended++,
    );
    await Promise.resolve();
    expect(ended).toBe(1);
  });

  it('an unfollowed listener hears nothing more', () => {
    const logs = createLiveLogs();
    const writer = logs.open('k');
    const seen: string[] = [];
    const stop = logs.get('k')!.follow(
      (t) => seen.push(t),
      () => seen.push('end'),
    );
    stop();
    writer.write(Buffer.from('more'));
    writer.end();
    expect(seen).toEqual([]);
  });
});
