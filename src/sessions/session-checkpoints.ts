/**
 * A session's workspace checkpointed into the store, and put back in a fresh box (issue 23):
 * the box's own tar, as the sandbox user, writes /mnt/req to a stream that kiln gzips, cuts into
 * chunks and seals one by one (a file may hold a credential an upstream echoed: nothing of it is
 * stored in clear), then points the session at the new generation once all of it is written — a
 * kiln that dies midway leaves the previous checkpoint whole. Restoring is the reverse, streamed:
 * kiln never holds more than a chunk of it.
 */
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { SandboxHandle } from '../sandbox/docker.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { SessionCheckpoint, SessionRecord, SessionStore } from '../store/sessions/records.js';

/** How long taking or restoring a checkpoint may take: a box that hangs must not hold up a stop or a call. */
const CHECKPOINT_MS = 30_000;

/** `work`, or an error once `ms` have passed (what it was doing is left to its box's end). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Compressed bytes per stored chunk: small enough to hold in memory, large enough to be few. */
const CHUNK_BYTES = 1024 * 1024;
const WORKSPACE = '/mnt/req';

const aad = (r: Pick<SessionRecord, 'project' | 'id'>, generation: number, seq: number) =>
  `session-checkpoint/${r.project}/${r.id}/${generation}/${seq}`;

/** Counts what passes (the tar's size, before compression). */
function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _e, done) {
      t.bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

export function createCheckpoints(deps: { store: SessionStore; box: SecretBox; log: Logger }) {
  const { store, box } = deps;

  /** Seals and stores what `source` yields, in chunks of CHUNK_BYTES; the number of chunks written. */
  async function writeChunks(record: SessionRecord, generation: number, source: AsyncIterable<Buffer>): Promise<number> {
    let seq = 0;
    let pending: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      const data = box.seal(Buffer.concat(pending), aad(record, generation, seq));
      await store.writeChunk(record.id, generation, seq++, data);
      pending = [];
      size = 0;
    };
    for await (const chunk of source) {
      pending.push(chunk);
      size += chunk.length;
      if (size >= CHUNK_BYTES) await flush();
    }
    if (size || seq === 0) await flush();
    return seq;
  }

  /**
   * Checkpoints the workspace of the live box `sandbox` holds for `record`, and answers the new
   * checkpoint (the record's is left for the caller to set). Throws when the box's tar fails; the
   * previous checkpoint then stands.
   */
  async function take(record: SessionRecord, sandbox: SandboxHandle): Promise<SessionCheckpoint> {
    await store.dropUncommitted(record.id); // what a kiln that died while writing left
    const generation = record.checkpoint.generation + 1;
    const at = new Date().toISOString();
    const tar = await sandbox.exec(['tar', '-cf', '-', '-C', WORKSPACE, '.'], null);
    const counted = counter();
    const gzip = createGzip({ level: 1 });
    const [chunks, end] = await Promise.all([writeChunks(record, generation, tar.stdout.pipe(counted).pipe(gzip)), tar.ended]);
    // 1: a file changed while it was read (a background process writing); what was read is kept
    if (end.exitCode > 1) {
      await store.dropUncommitted(record.id);
      throw new Error(`the workspace could not be read: tar exited ${end.exitCode}: ${end.stderr.trim().split('\n').at(-1) ?? ''}`);
    }
    const checkpoint = { generation, chunks, bytes: counted.bytes, at };
    if (!(await store.commitCheckpoint(record.project, record.id, checkpoint))) throw new Error('the session ended meanwhile');
    return checkpoint;
  }

  /** Puts the record's checkpoint into the workspace of a fresh box (nothing to do without one). */
  async function restore(record: SessionRecord, sandbox: SandboxHandle): Promise<void> {
    const { generation, chunks } = record.checkpoint;
    if (generation === 0) return;
    async function* sealed() {
      for (let seq = 0; seq < chunks; seq++) {
        const data = await store.readChunk(record.id, generation, seq);
        if (data === null) throw new Error(`chunk ${seq} of checkpoint ${generation} is missing`);
        yield box.openBytes(data, aad(record, generation, seq));
      }
    }
    const gunzip = createGunzip();
    const tar = await sandbox.exec(['tar', '-xf', '-', '-C', WORKSPACE, '--no-same-owner'], gunzip);
    const [, end] = await Promise.all([
      pipeline(Readable.from(sealed()), gunzip).catch((error: Error) => {
        tar.stdout.destroy();
        throw error;
      }),
      tar.ended,
      tar.stdout.resume(),
    ]);
    if (end.exitCode !== 0) throw new Error(`the workspace could not be restored: tar exited ${end.exitCode}: ${end.stderr.trim()}`);
  }

  return {
    take: (record: SessionRecord, sandbox: SandboxHandle) => within(CHECKPOINT_MS, 'the checkpoint', take(record, sandbox)),
    restore: (record: SessionRecord, sandbox: SandboxHandle) => within(CHECKPOINT_MS, 'the restore', restore(record, sandbox)),
  };
}

export type Checkpoints = ReturnType<typeof createCheckpoints>;
