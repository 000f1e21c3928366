/**
 * Resuming a session whose box is gone (its kiln stopped, or died): claimed in the store so that
 * exactly one kiln does it, a fresh box opened from its sealed create request, and its newest
 * checkpoint put back. The lifecycle around it (bounds, the live map) is ./sessions.ts.
 */
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { SessionRecord, SessionStore } from '../store/sessions/records.js';
import type { Checkpoints } from './session-checkpoints.js';
import { ended, iso, type OpenDeps, openLive } from './session-open.js';
import { openSpec } from './session-spec.js';

/** How the resuming kiln saw the session: paused, or running on a kiln it judged gone. */
export type Seen = { status: 'paused' } | { status: 'running'; owner: string };

/** What resuming takes (and, with the kilns alive, what the sessions are made of: ./sessions.ts). */
export type ResumeDeps = OpenDeps & {
  store: SessionStore;
  checkpoints: Checkpoints;
  secretBox: SecretBox;
  log: Logger;
  /** This kiln: `<instance>/<boot>`. */
  owner: string;
  /** Where other replicas reach this kiln (KILN_REPLICA_URL). */
  ownerUrl: string | null;
};

/**
 * What a resume that failed leaves: the session paused again for a later call (the error as it
 * was, or a 503 to retry) — unless its spec no longer opens (a secret it names was deleted, say),
 * which no retry mends: then it ends, saying why.
 */
async function unresumable(
  deps: { store: SessionStore; owner: string; log: Logger },
  record: SessionRecord,
  error: unknown,
): Promise<AppError> {
  const { project, id } = record;
  if (error instanceof AppError && error.code === 'BAD_REQUEST') {
    const detail = `it could not be resumed: ${error.message}`;
    return ended((await deps.store.end(project, id, { reason: 'kiln_restarted', detail, at: iso(Date.now()) })) ?? record);
  }
  await deps.store.pause(project, id, deps.owner);
  deps.log.warn({ err: String(error), session: id }, 'session: could not resume it; it stays paused');
  return error instanceof AppError
    ? error
    : new AppError('SANDBOX_UNAVAILABLE', `session ${id} could not be resumed now; retry`, [{ reason: 'session_resume_failed' }], 5);
}

/**
 * Claims `record` for this kiln and opens its box with its files back; null when another kiln
 * claimed it first or it is past its lifetime (the caller looks again). A failure leaves it paused
 * (or ended, see unresumable) and throws.
 */
export async function reopen(deps: ResumeDeps, record: SessionRecord, seen: Seen, onEnd: (detail: string) => void) {
  const { project, id } = record;
  const { store } = deps;
  const now = Date.now();
  const endsAt = Date.parse(record.endsAt);
  const sealed = await store.spec(project, id);
  const expiresAt = iso(Math.min(now + record.idleTimeoutSeconds * 1000, endsAt));
  const claimed =
    sealed && endsAt > now
      ? await store.claim(project, id, seen, { owner: deps.owner, ownerUrl: deps.ownerUrl, lastActiveAt: iso(now), expiresAt })
      : null;
  if (!claimed) return null;
  let opened: Awaited<ReturnType<typeof openLive>> | null = null;
  try {
    const req = openSpec(deps.secretBox, project, id, sealed!);
    const lifetime = Math.ceil((endsAt - now) / 1000);
    const withFiles = claimed.checkpoint.generation === 0;
    opened = await openLive(deps, { project, id, req, lifetime, withFiles }, onEnd);
    await deps.checkpoints.restore(claimed, opened.lease.sandbox);
  } catch (error) {
    if (opened) {
      opened.box.stop();
      deps.provider.release(opened.lease);
    }
    throw await unresumable(deps, claimed, error);
  }
  return { record: claimed, opened };
}
