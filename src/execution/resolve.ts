import type { Config } from '../config.js';
import type { AllowRule, HttpAuth } from '../egress/host-rules.js';
import { normalizeHost } from '../egress/host-rules.js';
import { AppError, fieldError } from '../errors.js';
import { newId } from '../ids.js';
import { checkInputDepth } from '../tools/input-depth.js';
import type { Language, Runtime } from '../runtimes/registry.js';
import type { SecretRef, Secrets } from '../secrets/secrets.js';
import type { ExecutionKind } from '../store/store.js';
import { checkInput } from '../tools/input-schema.js';
import { secretRefs, type Tools } from '../tools/tools.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import type { Job } from '../sandbox/job.js';
import { loggedRequest } from './logged-request.js';
import type { CustomRuntimes } from '../runtimes/custom/runtimes.js';
import type { ExecutionRequest } from './request.js';

/** A request made ready to run: the job, and what the log and the redaction need to know. */
export interface Resolved {
  job: Job;
  kind: ExecutionKind;
  tool: { id: string; revisionId: string } | null;
  /** Clear values of the secrets the job carries: never to appear in an answer or the log. */
  secretValues: string[];
  /** The request as the executions log keeps it: env names, no credentials. */
  logged: unknown;
}

/** A tool's stored bindings come first; a caller may add names and hosts, never rebind the tool's. */
function merge(toolEnv: EnvBinding[], toolAllow: AllowBinding[], env: EnvBinding[], allow: AllowBinding[]) {
  const bound = new Set(toolEnv.map((e) => e.name));
  env.forEach((e, i) => {
    if (bound.has(e.name))
      throw fieldError(`env.${i}.name`, 'bound_by_tool', `${e.name} is bound by the tool and cannot be set by the caller`);
  });
  const hosts = new Set(toolAllow.map((r) => normalizeHost(r.host)));
  allow.forEach((r, i) => {
    if (hosts.has(normalizeHost(r.host)))
      throw fieldError(`http.allow.${i}.host`, 'bound_by_tool', `${r.host} is bound by the tool and cannot be set by the caller`);
  });
  return { env: [...toolEnv, ...env], allow: [...toolAllow, ...allow] };
}

/** What a header value may hold (as the schema demands of literal credentials): no CR, LF or NUL. */
const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * A secret's value must suit the place it is bound to, as a literal there would have to: no NUL in
 * an env value (Python refuses it, Node cuts it off), only header-safe characters in a header.
 */
function checkDestinations(refs: SecretRef[], values: Map<string, string>): void {
  for (const ref of refs) {
    const value = values.get(ref.id)!;
    const header = /\.auth\.(basic|bearer|header)\.secret_id$/.test(ref.field);
    if (header ? !HEADER_SAFE.test(value) : /(^|\.)env\./.test(ref.field) && value.includes('\0'))
      throw fieldError(
        ref.field,
        'secret_unusable',
        `secret ${ref.id} holds characters ${header ? 'a header value cannot (CR, LF, NUL, or past U+00FF)' : 'an env value cannot (NUL)'}`,
      );
  }
}

/** Puts the revealed secrets in place of their references: a literal env and literal credentials. */
function materialize(env: EnvBinding[], allow: AllowBinding[], values: Map<string, string>) {
  const value = (literal: string | undefined, secretId: string | undefined) => (secretId ? values.get(secretId)! : (literal ?? ''));
  const clearEnv: Record<string, string> = {};
  for (const e of env) clearEnv[e.name] = value(e.value, e.secret_id);
  const rules: AllowRule[] = allow.map(({ host, auth }) => {
    if (!auth) return { host, auth };
    const clear: HttpAuth = {};
    if (auth.basic) clear.basic = { user_id: auth.basic.user_id, password: value(auth.basic.password, auth.basic.secret_id) };
    if (auth.bearer) clear.bearer = { token: value(auth.bearer.token, auth.bearer.secret_id) };
    if (auth.header) clear.header = { name: auth.header.name, value: value(auth.header.value ?? auth.header.token, auth.header.secret_id) };
    if (auth.query) clear.query = { key: auth.query.key, value: value(auth.query.value, auth.query.secret_id) };
    return { host, auth: clear };
  });
  return { env: clearEnv, allow: rules };
}

/**
 * The first step of every execution, whatever surface asked: picks the runtime, applies the limits
 * within the configured maxima, loads the tool at its revision and checks the input against its
 * schema (before any container is touched), and turns secret references into values.
 */
export function createResolver(deps: {
  config: Config;
  registry: Record<Language, Runtime>;
  tools: Tools;
  secrets: Secrets;
  runtimes: Pick<CustomRuntimes, 'runtimeFor'>;
}) {
  const { config } = deps;

  function limits(req: ExecutionRequest) {
    const timeout = req.limits?.executionTimeout ?? config.KILN_DEFAULT_TIMEOUT_SECONDS;
    const memory = req.limits?.memorySize ?? config.KILN_DEFAULT_MEMORY_MIB;
    if (timeout > config.KILN_MAX_TIMEOUT_SECONDS)
      throw new AppError('BAD_REQUEST', `limits.execution_timeout: must be at most ${config.KILN_MAX_TIMEOUT_SECONDS} seconds`, [
        { field: 'limits.execution_timeout', reason: 'above_maximum', message: `maximum is ${config.KILN_MAX_TIMEOUT_SECONDS}` },
      ]);
    if (memory > config.KILN_MAX_MEMORY_MIB)
      throw new AppError('BAD_REQUEST', `limits.memory_size: must be at most ${config.KILN_MAX_MEMORY_MIB} MiB`, [
        { field: 'limits.memory_size', reason: 'above_maximum', message: `maximum is ${config.KILN_MAX_MEMORY_MIB}` },
      ]);
    return { timeoutMs: Math.round(timeout * 1000), memoryMiB: memory };
  }

  return async function resolve(req: ExecutionRequest): Promise<Resolved> {
    // every adapter checks its own field first; this one is for the adapter that forgets
    checkInputDepth(req.input, 'input');
    const { timeoutMs, memoryMiB } = limits(req);
    let env = req.env ?? [];
    let allow = req.allow ?? [];
    let language: Language;
    let code: string;
    let runtimeRevisionId: string | null | undefined;
    let runtimeField = 'runtime_revision_id';
    let tool: Resolved['tool'] = null;
    let toolFiles: { path: string; contents: string }[] = [];
    let entry: 'execute' | 'default' | 'wasm' | undefined;
    let wasmMemoryBytes: number | undefined;
    if (req.target.kind === 'tool') {
      const revision = await deps.tools.revision(req.project, req.target.toolId, req.target.revisionId);
      checkInput(revision.inputSchema, req.input ?? null);
      ({ env, allow } = merge(revision.env, revision.http?.allow ?? [], env, allow));
      language = revision.language as Language;
      code = revision.code;
      tool = { id: revision.toolId, revisionId: revision.id };
      runtimeRevisionId = revision.runtimeRevisionId;
      runtimeField = 'tool.runtime_revision_id';
      toolFiles = revision.files ?? [];
      entry = revision.entry;
    } else {
      ({ language, code, runtimeRevisionId } = req.target);
      if (req.target.wasm) [entry, wasmMemoryBytes] = ['wasm', req.target.wasm.memoryBytes];
    }
    // a custom runtime's image, once its build has succeeded; else the language's stock one
    const runtime = runtimeRevisionId
      ? await deps.runtimes.runtimeFor(req.project, runtimeRevisionId, language, runtimeField)
      : deps.registry[language];
    // A tool's own bindings are named `tool.env.…` in errors: a deleted secret there is the tool's fault.
    const toolEnvCount = env.length - (req.env?.length ?? 0);
    const toolAllowCount = allow.length - (req.allow?.length ?? 0);
    const refs = [
      ...secretRefs(env.slice(0, toolEnvCount), allow.slice(0, toolAllowCount), 'tool.'),
      ...secretRefs(env.slice(toolEnvCount), allow.slice(toolAllowCount)),
    ];
    const values = await deps.secrets.reveal(req.project, refs);
    checkDestinations(refs, values);
    const clear = materialize(env, allow, values);
    const id = req.id ?? newId('exec');
    // a tool's own files first: the caller's may add to them, and a same path is the caller's
    const base = {
      id,
      runtime,
      code,
      env: clear.env,
      files: [...toolFiles, ...(req.files ?? [])],
      allow: clear.allow,
      timeoutMs,
      memoryMiB,
    };
    const job: Job =
      req.mode === 'function'
        ? {
            ...base,
            mode: 'function',
            input: req.input ?? null,
            ...(entry && entry !== 'execute' ? { entry } : {}),
            ...(wasmMemoryBytes ? { wasmMemoryBytes } : {}),
          }
        : { ...base, mode: 'script', args: req.args ?? [], stdin: req.stdin ?? '' };
    const kind: ExecutionKind = tool ? 'tool' : req.mode;
    return { job, kind, tool, secretValues: [...values.values()], logged: loggedRequest(req, kind, language, tool) };
  };
}

export type Resolve = ReturnType<typeof createResolver>;
