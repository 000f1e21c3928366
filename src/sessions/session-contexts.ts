import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { Sessions } from './sessions.js';

/** A session's contexts beyond its default one: made, and ended (their state with them). */
export function contextCalls(sessions: Sessions) {
  return {
    /** A new context: state of its own, beside the default one (`id`: a fresh one in place of one deleted). */
    async createContext(project: string, sessionId: string, id = newId('ctx')): Promise<{ id: string }> {
      const session = await sessions.use(project, sessionId);
      const outcome = await session.box.call({ op: 'context_create', context: id }, 30_000);
      if (outcome.end.kind !== 'answered' || outcome.end.outcome.ok !== true)
        throw new AppError('SANDBOX_UNAVAILABLE', `session ${sessionId} could not make a context; retry`, [{ reason: 'context_failed' }]);
      session.contexts.add(id);
      sessions.touch(session);
      return { id };
    },

    /** Ends a context of the session (not its default one): its state goes. */
    async deleteContext(project: string, sessionId: string, contextId: string): Promise<void> {
      const session = await sessions.use(project, sessionId);
      if (!session.contexts.has(contextId))
        throw new AppError('NOT_FOUND', `context ${contextId} not found in session ${sessionId}`, [
          { field: 'context_id', reason: 'not_found' },
        ]);
      const outcome = await session.box.call({ op: 'context_delete', context: contextId }, 30_000);
      session.contexts.delete(contextId);
      sessions.touch(session);
      if (outcome.end.kind !== 'answered')
        throw new AppError('SANDBOX_UNAVAILABLE', `session ${sessionId}: its interpreter restarted; every context is gone`, [
          { reason: 'context_failed' },
        ]);
    },
  };
}
