import { z } from '@hono/zod-openapi';
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { INPUT_TOO_DEEP, inputDepthOk } from '../../tools/input-depth.js';
import { LANGUAGES } from '../../runtimes/registry.js';
import { STOP_REASONS } from '../../sandbox/job.js';

// Request and response shapes of the execute endpoints, wire-compatible with Riza's.

// Older Riza clients send upper-case names ("PYTHON"): accept any case.
export const Language = z
  .preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(LANGUAGES))
  .openapi({
    type: 'string',
    enum: [...LANGUAGES],
    description: 'Language of `code` (any case); TypeScript types are erased, never checked.',
  });

// the depth rule is every surface's: it lives with the execution core, and is re-exported here
export { jsonDepth, MAX_INPUT_DEPTH } from '../../tools/input-depth.js';

/** A path inside /mnt/req: relative, and never climbing out of it. */
const FilePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => !p.startsWith('/'), 'must be relative to /mnt/req, not absolute')
  .refine((p) => {
    const normal = posix.normalize(p);
    return normal !== '.' && normal !== './' && !normal.startsWith('../') && normal !== '..';
  }, 'must stay inside /mnt/req (no ".." that climbs out, and not the directory itself)');

/** Any JSON, nested no deeper than the harnesses parse safely. */
export const InputValue = z.any().optional().refine(inputDepthOk, INPUT_TOO_DEEP);

export const InputFile = z
  .object({ path: FilePath, contents: z.string().default('') })
  .openapi('InputFile', { description: 'A file written to /mnt/req/<path> before the code runs.' });

export const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');
export const Env = z
  .record(
    EnvName,
    z.string().refine((v) => !v.includes('\0'), 'must not contain NUL'),
  )
  .openapi({ description: 'Environment variables visible to the code.' });

// Header values and tokens reach an upstream request: only characters a header value may hold
// (no CR, LF or other controls: no header injection; nothing past U+00FF).
export const HeaderSafe = z
  .string()
  .max(8192)
  .refine(
    (v) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v),
    'must hold only printable characters (tab, U+0020 to U+00FF, no DEL), no CR, LF or NUL',
  );
export const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name')
  .refine(
    (n) => !/^(host|connection|content-length|transfer-encoding|te|trailer|upgrade|keep-alive|proxy-.*)$/i.test(n),
    'must not be a header that controls the connection',
  );

const HttpAuth = z
  .object({
    basic: z
      .object({ user_id: HeaderSafe.refine((u) => !u.includes(':'), 'must not contain ":"').optional(), password: HeaderSafe })
      .nullish(),
    bearer: z.object({ token: HeaderSafe }).nullish(),
    header: z
      .object({ name: HeaderName, value: HeaderSafe.optional(), token: HeaderSafe.optional() })
      .refine((h) => h.value !== undefined || h.token !== undefined, 'needs value (or token)')
      .nullish(),
    query: z.object({ key: z.string().min(1).max(256), value: z.string().max(8192) }).nullish(),
  })
  .refine((a) => [a.basic, a.bearer, a.header, a.query].filter((x) => x != null).length <= 1, 'give one of basic, bearer, header or query')
  .openapi('HttpAuth', { description: 'The credential kiln injects into requests to this host; it never enters the sandbox.' });

const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*)$/i;
export const HostPattern = z
  .string()
  .max(253)
  .refine(
    (h) => HOST_PATTERN.test(h) || isIP(h.replace(/^\[(.*)\]$/, '$1')) !== 0,
    'must be a host name, an IP address, "*", or "*.example.com"',
  );

export const HttpConfig = z
  .object({
    allow: z
      .array(z.object({ host: HostPattern, auth: HttpAuth.nullish() }).openapi('HttpAllowRule'))
      .max(100)
      .nullish()
      .openapi({ description: 'Hosts the code may reach over HTTP(S): exact, "*" or "*.example.com" (subdomains only).' }),
  })
  .openapi('HttpConfig', { description: 'Outbound HTTP the code may make (hosts and the credentials to inject).' });

export const Limits = z
  .object({
    execution_timeout: z.number().positive().optional().openapi({ description: 'Seconds before the run is stopped (default 30).' }),
    memory_size: z.number().int().min(16).optional().openapi({ description: 'Memory limit in MiB (default 128).' }),
  })
  .openapi('Limits');

/** Where an async invocation's result is posted when it ends (Standard Webhooks); needs `Prefer: respond-async`. */
export const CallbackUrl = z
  .string()
  .max(2048)
  .refine((v) => /^https?:\/\/[^/]/i.test(v) && URL.canParse(v), 'must be an http:// or https:// URL')
  .refine((v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''), 'must not carry a user or password')
  .nullish()
  .openapi({ description: 'kiln: with `Prefer: respond-async`, the ended execution is posted here, signed per Standard Webhooks.' });

const common = {
  callback_url: CallbackUrl,
  language: Language,
  code: z.string().min(1, 'must not be empty'),
  env: Env.nullish(),
  files: z.array(InputFile).nullish(),
  http: HttpConfig.nullish(),
  limits: Limits.nullish(),
  runtime_revision_id: z
    .string()
    .max(256)
    .nullish()
    .openapi({ description: 'Run on this custom runtime revision (POST /v1/runtimes), once its build has succeeded.' }),
  allow_http_hosts: z
    .array(HostPattern)
    .max(100)
    .nullish()
    .openapi({ description: "Riza's older form of http.allow: hosts without credentials." }),
  tools: z
    .union([z.array(z.string().min(1).max(128)).max(100), z.literal('all')])
    .nullish()
    .openapi({
      description:
        'kiln: saved tools the code may call (ids or names), or "all" the key may run. Python imports them from `kiln_tools`, JavaScript and TypeScript from `kiln:tools`; each call runs the tool in a box of its own, its credentials never in this one.',
    }),
  session_id: z.string().max(256).nullish().openapi({
    description:
      "kiln: run in this session (POST /v1/sessions) instead of a fresh box: execute-function in its default context (what the code defines stays), execute as a fresh process in its box (its files). The session's own env and egress hold; `files`, `http`, `runtime_revision_id` and `limits.memory_size` belong to the session, not to the call.",
  }),
};

export const ExecuteFunctionRequest = z
  .object({
    ...common,
    input: InputValue.openapi({ description: 'Passed to execute(input); omitted means None / null.' }),
  })
  .openapi('ExecuteFunctionRequest');

export const ExecuteScriptRequest = z
  .object({
    ...common,
    stdin: z.string().nullish(),
    args: z.array(z.string()).nullish(),
  })
  .openapi('ExecuteScriptRequest');

const executionFields = {
  id: z.string(),
  exit_code: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  duration: z.number().int().openapi({ description: 'Milliseconds the code ran.' }),
  // kiln's additions; Riza clients ignore unknown fields
  stop_reason: z.enum(STOP_REASONS).openapi({ description: 'kiln: why the run ended.' }),
  stdout_truncated: z.boolean().openapi({ description: 'kiln: stdout was cut at the output limit.' }),
  stderr_truncated: z.boolean().openapi({ description: 'kiln: stderr was cut at the output limit.' }),
  files: z
    .array(z.object({ path: z.string(), size: z.number().int() }))
    .optional()
    .openapi({
      description:
        'kiln: the files the code left under /mnt/req/out (`out/` in its working directory), when it ended by itself: each at GET /v1/executions/{id}/files/{path}.',
    }),
  files_truncated: z
    .boolean()
    .optional()
    .openapi({ description: 'kiln: some files were left out (past KILN_OUTPUT_FILES_MAX or KILN_OUTPUT_FILES_MAX_BYTES).' }),
  children: z
    .array(z.object({ id: z.string(), tool_id: z.string(), tool: z.string(), duration_ms: z.number().int(), outcome: z.string() }))
    .optional()
    .openapi({ description: 'kiln: the tool calls the code made (`tools`), each an execution of its own (`parent_id` this one).' }),
};

export const Execution = z.object(executionFields).openapi('Execution');

export const ExecuteScriptResponse = Execution.openapi('ExecuteScriptResponse');

export const ExecuteFunctionResponse = z
  .object({
    output: z.any().openapi({ description: 'What execute() returned, when output_status is "valid".' }),
    output_status: z.enum(['valid', 'json_serialization_error', 'error']),
    execution: Execution,
  })
  .openapi('ExecuteFunctionResponse');

export const ErrorBody = z
  .object({
    code: z
      .number()
      .int()
      .openapi({ description: 'google.rpc code: 3 invalid argument, 8 exhausted, 14 unavailable, 16 unauthenticated.' }),
    message: z.string(),
    details: z.array(z.object({ field: z.string().optional(), reason: z.string(), message: z.string().optional() })).optional(),
  })
  .openapi('Error');

export type ExecuteFunctionRequest = z.infer<typeof ExecuteFunctionRequest>;
export type ExecuteScriptRequest = z.infer<typeof ExecuteScriptRequest>;
