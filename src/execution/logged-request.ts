import type { Language } from '../runtimes/registry.js';
import type { ExecutionKind } from '../store/store.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import type { ExecutionRequest } from './request.js';

export const REDACTED = '[redacted]';

/** An allow rule without its credential: the kind of auth, header and parameter names, secret ids. */
function withoutCredentials(rule: AllowBinding) {
  const auth = rule.auth;
  if (!auth) return { host: rule.host };
  const kept: Record<string, object> = {};
  const ref = (secretId?: string) => (secretId ? { secret_id: secretId } : {});
  if (auth.basic) kept.basic = ref(auth.basic.secret_id);
  if (auth.bearer) kept.bearer = ref(auth.bearer.secret_id);
  if (auth.header) kept.header = { name: auth.header.name, ...ref(auth.header.secret_id) };
  if (auth.query) kept.query = { key: auth.query.key, ...ref(auth.query.secret_id) };
  return { host: rule.host, auth: kept };
}

const envNames = (env: EnvBinding[]) => env.map((e) => ({ name: e.name, ...(e.secret_id ? { secret_id: e.secret_id } : {}) }));

/**
 * The request as the executions log keeps it, in Riza's `details.request` shapes: env names but
 * never values, egress rules without credentials, files by path and size (their contents can be
 * megabytes). A tool execution keeps only what the caller sent; the tool's own bindings are in
 * its revision.
 */
export function loggedRequest(
  req: ExecutionRequest,
  kind: ExecutionKind,
  language: Language,
  tool: { revisionId: string } | null,
): unknown {
  const http = req.allow?.length ? { allow: req.allow.map(withoutCredentials) } : undefined;
  if (kind === 'tool')
    return { input: req.input ?? null, env: envNames(req.env ?? []), ...(http && { http }), revision_id: tool!.revisionId };
  const target = req.target.kind === 'code' ? req.target : null;
  const wasm = target?.wasm;
  return {
    language,
    // an AT function's module (up to 5 MiB) is named by its record, whose CID fixes its bytes
    ...(wasm ? { code: '', function: wasm.functionUri, function_cid: wasm.functionCid } : { code: target?.code ?? '' }),
    ...(kind === 'function' ? { input: req.input ?? null } : { args: req.args ?? [], stdin: req.stdin ?? '' }),
    env: Object.fromEntries((req.env ?? []).map((e) => [e.name, REDACTED])),
    files: (req.files ?? []).map((f) => ({ path: f.path, bytes: Buffer.byteLength(f.contents) })),
    ...(http && { http }),
    limits: { execution_timeout: req.limits?.executionTimeout ?? undefined, memory_size: req.limits?.memorySize ?? undefined },
    ...(target?.runtimeRevisionId ? { runtime_revision_id: target.runtimeRevisionId } : {}),
  };
}
