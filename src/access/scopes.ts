/**
 * What a key may do (issue 26). Four scopes — `admin` (keys, the webhook signing secret; and all
 * below), `manage` (create, change and delete tools, secrets, runtimes, functions), `run` (execute
 * code, run tools, sessions and sandboxes), `read` (the executions log and objects' metadata; `manage`
 * and `run` include it) — and an allow-list, `tools:<id>,…`, which limits `run` to those saved
 * tools: a key with one runs those tools and no code of its own, on every surface.
 */
import { AppError, fieldError } from '../errors.js';

export const SCOPES = ['admin', 'manage', 'run', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is asking: a key (from the store, or KILN_API_KEYS) and what it may do. */
export interface Principal {
  project: string;
  /** The store's key id; null for a key of KILN_API_KEYS. */
  keyId: string | null;
  /** The key's name (KILN_API_KEYS' keys are named `env`). */
  keyName: string;
  scopes: ReadonlySet<Scope>;
  /** The tools it may run; null: any, and code of its own. */
  tools: readonly string[] | null;
}

/** What a request carries of its key: the log says which ran it; the core holds it to its tools. */
export interface KeyOfRequest {
  id: string | null;
  name: string;
  tools?: readonly string[] | null;
}

export const keyOfRequest = (p: Principal): KeyOfRequest => ({ id: p.keyId, name: p.keyName, tools: p.tools });

/** Scopes as given (`["run", "tools:tool_a,tool_b"]`): a 400 naming the field for one kiln does not know. */
export function parseScopes(given: readonly string[], field = 'scopes'): { scopes: Set<Scope>; tools: string[] | null } {
  const scopes = new Set<Scope>();
  let tools: string[] | null = null;
  for (const [i, s] of given.entries()) {
    if (s.startsWith('tools:')) {
      const ids = s
        .slice('tools:'.length)
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      if (!ids.length) throw fieldError(`${field}[${i}]`, 'invalid', 'tools: names at least one tool id (tools:tool_a,tool_b)');
      tools = [...(tools ?? []), ...ids];
      scopes.add('run');
    } else if ((SCOPES as readonly string[]).includes(s)) scopes.add(s as Scope);
    else throw fieldError(`${field}[${i}]`, 'unknown_scope', `${s} is not a scope: ${SCOPES.join(', ')} or tools:<id>,…`);
  }
  if (!scopes.size) throw fieldError(field, 'empty', 'give at least one scope');
  return { scopes, tools };
}

/** Whether the principal has `need` (admin has every scope; manage and run include read). */
export function allows(p: Pick<Principal, 'scopes'>, need: Scope): boolean {
  if (p.scopes.has('admin') || p.scopes.has(need)) return true;
  return need === 'read' && (p.scopes.has('manage') || p.scopes.has('run'));
}

/** A 403 naming the scope a request lacks. */
export const forbidden = (need: string, why?: string) =>
  new AppError('FORBIDDEN', why ?? `this key lacks the ${need} scope`, [{ reason: 'missing_scope', message: need }]);

/** Throws the 403 unless the principal has `need`. */
export function requireScope(p: Pick<Principal, 'scopes'>, need: Scope): void {
  if (!allows(p, need)) throw forbidden(need);
}

/** Throws the 403 unless the principal may run code of its own (it has `run` and no tool allow-list). */
export function requireCode(p: Pick<Principal, 'scopes' | 'tools'>): void {
  requireScope(p, 'run');
  if (p.tools !== null) throw forbidden('run', `this key may run only its tools (${p.tools.join(', ')}), not code of its own`);
}

/** Throws the 403 unless the principal may run tool `id`. */
export function requireTool(p: Pick<Principal, 'scopes' | 'tools'>, id: string): void {
  requireScope(p, 'run');
  if (p.tools !== null && !p.tools.includes(id)) throw forbidden(`tools:${id}`, `this key may not run tool ${id}`);
}
