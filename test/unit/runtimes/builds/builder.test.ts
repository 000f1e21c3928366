// The custom-runtime builder on a fake clock, with an in-memory store, fake images and a fake build
// box: one build per image key and KILN_BUILD_CONCURRENCY at once, the time limit, cancel, a build
// for this engine alone and its failure remembered for a minute, the image sweep at resume and every
// ten minutes, resume and close. Real build boxes are test/integration/custom-runtimes.test.ts.
import { Readable } from 'node:stream';
import { pino } from 'pino';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBuilder } from '../../../../src/runtimes/builds/builder.js';
import { runtimeImageTag } from '../../../../src/runtimes/builds/image-build.js';

type BuilderDeps = Parameters<typeof createBuilder>[0];
type Revision = Parameters<BuilderDeps['runBuildBox']>[0];
type Outcome = Awaited<ReturnType<BuilderDeps['runBuildBox']>>;

const TIMEOUT_SECONDS = 120;

const revision = (id: string, imageKey: string, status: Revision['status'] = 'pending'): Revision => ({
  id,
  runtimeId: `rt_${id}`,
  project: 'proj_a',
  language: 'python',
  manifestName: 'requirements.txt',
  manifestContents: 'six\n',
  additionalPythonImports: null,
  imageKey,
  status,
  failureReason: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

/** The revisions table as far as the builder reads and writes it. */
function memoryStore(revisions: Revision[]) {
  return {
    revisions,
    async moveBuilds(key: string, from: string[], to: Revision['status']) {
      const moved = revisions.filter((r) => r.imageKey === key && from.includes(r.status));
      for (const r of moved) r.status = to;
      return moved.length;
    },
    async finishBuilds(key: string, outcome: { status: Revision['status']; failureReason: string | null }) {
      const ended = revisions.filter((r) => r.imageKey === key && (r.status === 'pending' || r.status === 'building'));
      for (const r of ended) Object.assign(r, { status: outcome.status, failureReason: outcome.failureReason });
      return ended.length;
    },
    async buildsWithStatus(statuses: string[]) {
      const byKey = new Map<string, Revision>();
      for (const r of revisions) if (statuses.includes(r.status) && !byKey.has(r.imageKey)) byKey.set(r.imageKey, r);
      return [...byKey.values()];
    },
    imageKeysInUse: async () => new Set(revisions.map((r) => r.imageKey)),
  };
}

/** An engine's images: the sandbox base images, and the runtime images built (their tags and labels). */
function fakeImages() {
  const built = new Map<string, Record<string, string>>();
  return {
    built,
    id: async (image: string) => (image.startsWith('kiln-sandbox-') ? 'sha256:base' : built.has(image) ? `sha256:${image}` : null),
    async build(context: Readable, tag: string, labels: Record<string, string>) {
      for await (const _ of context); // the whole context, as the engine reads it
      built.set(tag, labels);
    },
    listRuntimeImages: async (instance: string) => [...built].filter(([, l]) => l['kiln.instance'] === instance).map(([tag]) => tag),
    remove: async (tag: string) => built.delete(tag),
  };
}

/** A tar of an installed tree, as a build box exports it. */
function installedTree(): Readable {
  const pack = tar.pack();
  pack.entry({ name: 'six.py' }, 'x = 1\n');
  pack.finalize();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

interface BoxRun {
  imageKey: string;
  signal: AbortSignal;
  succeed(): Promise<void>;
  fail(reason: string): void;
}

describe('custom-runtime builder (fake clock, fakes for store, images and build box)', () => {
  let boxes: BoxRun[];
  let open: number;
  let most: number;
  let images: ReturnType<typeof fakeImages>;
  let builder: ReturnType<typeof createBuilder> | undefined;

  beforeEach(() => {
    vi.useFakeTimers();
    boxes = [];
    open = 0;
    most = 0;
    images = fakeImages();
  });
  afterEach(async () => {
    await builder?.close();
    builder = undefined;
    vi.useRealTimers();
  });

  /** As the real build box: runs until told how it ends, or until its signal aborts (the reason is its failure). */
  const runBuildBox: BuilderDeps['runBuildBox'] = (rev, _imports, signal, consume) =>
    new Promise<Outcome>((resolve) => {
      most = Math.max(most, ++open);
      const end = (outcome: Outcome) => {
        open--;
        resolve(outcome);
      };
      boxes.push({
        imageKey: rev.imageKey,
        signal,
        succeed: async () => {
          await consume(installedTree());
          end({ ok: true, log: 'installed six\n' });
        },
        fail: (reason) => end({ ok: false, log: `${reason}\n`, reason }),
      });
      signal.addEventListener('abort', () => end({ ok: false, log: '', reason: String(signal.reason) }), { once: true });
    });

  const make = (store: ReturnType<typeof memoryStore>, concurrency = 1, timeoutSeconds = TIMEOUT_SECONDS) => {
    builder = createBuilder({
      store: store as unknown as BuilderDeps['store'],
      images: images as unknown as BuilderDeps['images'],
      runBuildBox,
      registry: {
        python: { image: 'kiln-sandbox-python' },
        javascript: { image: 'kiln-sandbox-javascript' },
      } as unknown as BuilderDeps['registry'],
      config: {
        KILN_BUILD_CONCURRENCY: concurrency,
        KILN_BUILD_TIMEOUT_SECONDS: timeoutSeconds,
        KILN_BUILD_DISK_MIB: 64,
        KILN_INSTANCE: 'unit',
      } as BuilderDeps['config'],
      log: pino({ level: 'silent' }),
    });
    return builder;
  };
  const settle = () => vi.advanceTimersByTimeAsync(0);

  it('builds each image key once however many revisions share it, KILN_BUILD_CONCURRENCY at a time', async () => {
    const store = memoryStore([revision('a1', 'ka'), revision('a2', 'ka'), revision('b1', 'kb')]);
    const b = make(store);
    for (const r of store.revisions) b.enqueue(r);
    await settle();
    expect(boxes.map((x) => x.imageKey)).toEqual(['ka']);
    await boxes[0]!.succeed();
    await settle();
    expect(boxes.map((x) => x.imageKey)).toEqual(['ka', 'kb']);
    await boxes[1]!.succeed();
    await settle();
    expect(most).toBe(1);
    expect(store.revisions.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(images.built.get(runtimeImageTag('ka'))).toEqual({ 'kiln.runtime-key': 'ka', 'kiln.instance': 'unit' });
    // asked again once its image is there: no build box
    store.revisions.push(revision('a3', 'ka'));
    b.enqueue(store.revisions[3]!);
    await settle();
    expect(boxes).toHaveLength(2);
    expect(store.revisions[3]!.status).toBe('succeeded');
  });

  it('stops a build at KILN_BUILD_TIMEOUT_SECONDS and ends it failed, naming the limit', async () => {
    const store = memoryStore([revision('a1', 'ka')]);
    make(store).enqueue(store.revisions[0]!);
    await vi.advanceTimersByTimeAsync(TIMEOUT_SECONDS * 1000 - 1);
    expect(boxes[0]!.signal.aborted).toBe(false);
    expect(store.revisions[0]!.status).toBe('building');
    await vi.advanceTimersByTimeAsync(1);
    expect(boxes[0]!.signal.aborted).toBe(true);
    expect(store.revisions[0]).toMatchObject({
      status: 'failed',
      failureReason: `the build ran past its ${TIMEOUT_SECONDS} s limit (KILN_BUILD_TIMEOUT_SECONDS)`,
    });
  });

  it('cancels a running build (its revisions end cancelled), and says when there was none', async () => {
    const store = memoryStore([revision('a1', 'ka')]);
    const b = make(store);
    b.enqueue(store.revisions[0]!);
    await settle();
    expect(b.cancel('ka')).toBe(true);
    await settle();
    expect(store.revisions[0]).toMatchObject({ status: 'cancelled', failureReason: 'the build was cancelled' });
    expect(b.cancel('ka')).toBe(false);
  });

  it('builds an image another replica built for this engine alone; its failure is answered for a minute, then it is tried again', async () => {
    const store = memoryStore([revision('a1', 'ka', 'succeeded')]);
    const b = make(store);
    await expect(b.ensureImage(store.revisions[0]!)).resolves.toEqual({ state: 'building' });
    await settle();
    expect(boxes).toHaveLength(1);
    boxes[0]!.fail('no matching distribution for six');
    await settle();
    expect(store.revisions[0]!.status).toBe('succeeded'); // the store's word stands
    await expect(b.ensureImage(store.revisions[0]!)).resolves.toEqual({ state: 'failed', reason: 'no matching distribution for six' });
    await vi.advanceTimersByTimeAsync(59_999);
    await expect(b.ensureImage(store.revisions[0]!)).resolves.toMatchObject({ state: 'failed' });
    expect(boxes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(b.ensureImage(store.revisions[0]!)).resolves.toEqual({ state: 'building' });
    await settle();
    expect(boxes).toHaveLength(2);
    await boxes[1]!.succeed();
    await settle();
    await expect(b.ensureImage(store.revisions[0]!)).resolves.toEqual({ state: 'ready' });
  });

  it('sweeps at resume and every ten minutes: images no revision names go (or an older box protocol built), and builds nobody waits for stop', async () => {
    const store = memoryStore([revision('a1', 'ka', 'succeeded'), revision('c1', 'kc')]);
    images.built.set(runtimeImageTag('ka'), { 'kiln.instance': 'unit' });
    images.built.set('kiln-runtime:ka', { 'kiln.instance': 'unit' }); // protocol 1's tag of the same key
    images.built.set('kiln-runtime:ka-p1', { 'kiln.instance': 'unit' });
    images.built.set(runtimeImageTag('gone'), { 'kiln.instance': 'unit' });
    images.built.set(runtimeImageTag('theirs'), { 'kiln.instance': 'another' });
    const b = make(store, 1, 3600);
    await b.resume(); // resumes kc's build, and sweeps
    await settle();
    expect([...images.built.keys()].sort()).toEqual([runtimeImageTag('ka'), runtimeImageTag('theirs')]);
    expect(boxes.map((x) => x.imageKey)).toEqual(['kc']);

    // kc's runtime is deleted while it builds; another image is left behind
    store.revisions.splice(1, 1);
    images.built.set(runtimeImageTag('later'), { 'kiln.instance': 'unit' });
    await vi.advanceTimersByTimeAsync(10 * 60_000 - 1);
    expect(images.built.has(runtimeImageTag('later'))).toBe(true);
    expect(boxes[0]!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(images.built.has(runtimeImageTag('later'))).toBe(false);
    expect(boxes[0]!.signal.reason).toBe('the build was cancelled: no revision needs it any more');
    expect(images.built.has(runtimeImageTag('ka'))).toBe(true);
  });

  it('resumes the builds an earlier run left; close stops them and leaves them to the next start', async () => {
    const store = memoryStore([revision('a1', 'ka', 'building'), revision('b1', 'kb', 'pending')]);
    const b = make(store, 2);
    await expect(b.resume()).resolves.toBe(2);
    await settle();
    expect(boxes.map((x) => x.imageKey).sort()).toEqual(['ka', 'kb']);
    await b.close();
    builder = undefined;
    expect(boxes.map((x) => x.signal.reason)).toEqual(['kiln is stopping', 'kiln is stopping']);
    // no outcome written: still waiting to be built
    expect(store.revisions.map((r) => r.status)).toEqual(['building', 'building']);
    b.enqueue(revision('c1', 'kc'));
    await settle();
    expect(boxes).toHaveLength(2);
  });
});
