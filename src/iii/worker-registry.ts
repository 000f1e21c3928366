import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { NAMESPACE, send, TOOL_PREFIX, type Worker } from './worker.js';

const FUNCTION_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const MAX_FUNCTIONS = 1000;

const rejected = (w: Worker, code: string, functionId: string, more: Record<string, string>) =>
  send(w, { type: 'registrationrejected', code, namespace: NAMESPACE, function_id: functionId, ...more });

/**
 * Which worker owns which function id, per project: first come, first served. Another worker's
 * registration of a taken id is rejected with FUNCTION_NAMESPACE_CONFLICT (an HTTP function
 * registered in the store takes its id too); the same worker again is idempotent.
 */
export function createWorkerRegistry(deps: { store: Pick<Store, 'functions'>; log: Logger }) {
  /** project → function id → the worker that owns it */
  const owners = new Map<string, Map<string, Worker>>();
  const ownersOf = (project: string) => {
    let owned = owners.get(project);
    if (!owned) {
      owned = new Map();
      owners.set(project, owned);
    }
    return owned;
  };

  /** After the store's lookup: the id is the worker's unless kiln or another worker took it meanwhile. */
  function looked(w: Worker, id: string, registered: boolean) {
    w.reserving.delete(id);
    if (registered) return rejected(w, 'FUNCTION_NAMESPACE_CONFLICT', id, { owner_worker_id: 'kiln' });
    // checked again after the lookup: another worker may have taken it meanwhile, or this one left
    const now = ownersOf(w.project).get(id);
    if (now && now !== w) return rejected(w, 'FUNCTION_NAMESPACE_CONFLICT', id, { owner_worker_id: now.id });
    if (!w.connected) return;
    ownersOf(w.project).set(id, w);
    w.functions.add(id);
  }

  function register(w: Worker, id: string) {
    const owner = ownersOf(w.project).get(id);
    if (w.reserving.has(id) || (w.functions.has(id) && owner === w)) return; // the same worker again: idempotent
    // registrations still waiting on the store count too: a burst cannot pass the cap before any lookup ends
    if (!FUNCTION_ID.test(id) || id.startsWith(TOOL_PREFIX) || w.functions.size + w.reserving.size >= MAX_FUNCTIONS)
      return rejected(w, 'INVALID_FUNCTION', id.slice(0, 200), {
        message: `an id is 1-200 of A-Z a-z 0-9 _ . : -, not under ${TOOL_PREFIX}; at most ${MAX_FUNCTIONS} per worker`,
      });
    if (owner && owner !== w) return rejected(w, 'FUNCTION_NAMESPACE_CONFLICT', id, { owner_worker_id: owner.id });
    w.reserving.add(id);
    void deps.store.functions.get(w.project, id).then(
      (registered) => looked(w, id, !!registered),
      (err: unknown) => {
        w.reserving.delete(id);
        deps.log.warn({ err: String(err), worker: w.id }, 'iii registration: the store did not answer');
        rejected(w, 'INTERNAL', id, { message: 'kiln could not check the id now; register it again' });
      },
    );
  }

  return {
    register,
    unregister(w: Worker, id: string) {
      if (ownersOf(w.project).get(id) !== w) return;
      ownersOf(w.project).delete(id);
      w.functions.delete(id);
    },
    /** The worker left: its functions are free again. */
    forget(w: Worker) {
      const owned = ownersOf(w.project);
      for (const id of w.functions) if (owned.get(id) === w) owned.delete(id);
    },
    ownerOf: (project: string, id: string): Worker | undefined => owners.get(project)?.get(id),
    list: (project: string) => [...(owners.get(project) ?? new Map<string, Worker>())].map(([id, w]) => ({ id, worker_id: w.id })),
  };
}
