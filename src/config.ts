import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseAllowList } from './model/address-list.js';
import { decodeKey } from './model/secret-key.js';

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

/** A comma-separated list of addresses, CIDR ranges or address:port, as the egress address policy reads it. */
const addressList = () =>
  z
    .string()
    .default('')
    .refine((v) => {
      try {
        parseAllowList(v);
        return true;
      } catch {
        return false;
      }
    }, 'must be comma-separated addresses, CIDR ranges or address:port, e.g. 10.1.0.0/16,127.0.0.1:8443');

export const PROJECT = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** `project:key` when the part before the first colon is a project name; else a key of the default project. */
export function parseApiKey(entry: string): { project: string; key: string } {
  const colon = entry.indexOf(':');
  const project = entry.slice(0, colon);
  if (colon > 0 && PROJECT.test(project)) return { project, key: entry.slice(colon + 1) };
  return { project: 'default', key: entry };
}

/** An http(s) URL. */
const httpUrl = () => z.string().refine((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v), 'must be an http:// or https:// URL');
/** A comma-separated list of http(s) URLs. */
/** The items of a comma-separated setting, trimmed, empty ones dropped. */
const items = (v: string) =>
  v
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
/** A comma-separated list, empty by default. */
const commaList = () => z.string().default('').transform(items);

const urlList = () =>
  commaList().refine(
    (list) => list.every((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v)),
    'must be comma-separated http:// or https:// URLs',
  );

/** The smallest pids limit under which gVisor boxes start and run kiln's harnesses. */
export const RUNSC_MIN_PIDS = 64;

/** Every setting kiln reads, from the environment; docs/configuration.md lists them (a unit test holds the two equal). */
export const ConfigSchema = z.object({
  KILN_API_KEYS: z
    .string({ error: 'is required: a comma-separated list of API keys clients send as Bearer tokens' })
    .transform((s) => items(s).map(parseApiKey))
    .pipe(
      z
        .array(z.object({ project: z.string(), key: z.string().min(16, 'each API key must be at least 16 characters') }))
        .min(1, 'must name at least one key')
        .refine((keys) => new Set(keys.map((k) => k.key)).size === keys.length, 'a key may be listed once (and so belong to one project)'),
    )
    .describe(
      'Comma-separated API keys accepted as `Authorization: Bearer <key>` (each at least 16 characters); `project:key` puts a key in a project, a bare key is in the `default` project.',
    ),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080).describe('Port the API listens on (`KILN_PORT` also works).'),
  KILN_HOST: z.string().default('127.0.0.1').describe('Address the API binds to; `0.0.0.0` inside a container.'),
  KILN_DOCKER_HOST: z
    .string()
    .optional()
    .describe('Docker endpoint, `unix:///path` or `tcp://host:port`; default `DOCKER_HOST`, else the local socket.'),
  KILN_DOCKER_TLS_CA_FILE: z
    .string()
    .optional()
    .describe(
      'With a `tcp://` engine: the PEM CA its server certificate must chain to (TLS is on when any KILN_DOCKER_TLS_* is set; port 2376 by default).',
    ),
  KILN_DOCKER_TLS_CERT_FILE: z
    .string()
    .optional()
    .describe("With a `tcp://` engine: this kiln's client certificate (PEM), for an engine run with `--tlsverify`."),
  KILN_DOCKER_TLS_KEY_FILE: z.string().optional().describe("The client certificate's private key (PEM)."),
  KILN_INSTANCE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]*$/)
    .default(defaultInstance)
    .describe(
      "Name stamped on this instance's containers; at start kiln removes containers a previous run of the same name left, and no other. Default: the host name, so that replicas sharing an engine never remove each other's.",
    ),
  KILN_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .describe(
      'PostgreSQL (`postgres://user:password@host:5432/db`): the store and invocation queue that replicas share. Unset: SQLite in the data directory, for one kiln.',
    ),
  KILN_REPLICA_TIMEOUT_SECONDS: z.coerce
    .number()
    .min(5)
    .max(3600)
    .default(30)
    .describe('With replicas: a kiln not heard from for this long is taken for dead, and what it was running ends `interrupted`.'),
  KILN_EGRESS_CA_CERT_FILE: z
    .string()
    .optional()
    .describe('The egress CA certificate (PEM) to use instead of `egress-ca.pem` in the data directory: the same file on every replica.'),
  KILN_EGRESS_CA_KEY_FILE: z.string().optional().describe('Its private key (PKCS#8 PEM), with KILN_EGRESS_CA_CERT_FILE.'),
  KILN_PYTHON_IMAGE: z.string().default('kiln-python:latest').describe('Sandbox image for Python.'),
  KILN_NODE_IMAGE: z.string().default('kiln-node:latest').describe('Sandbox image for JavaScript and TypeScript.'),
  KILN_DEFAULT_TIMEOUT_SECONDS: int(30).describe('`limits.execution_timeout` when a request gives none.'),
  KILN_MAX_TIMEOUT_SECONDS: int(300).describe('Largest `limits.execution_timeout` a request may ask for.'),
  KILN_DEFAULT_MEMORY_MIB: int(128).describe('`limits.memory_size` (MiB) when a request gives none.'),
  KILN_MAX_MEMORY_MIB: int(1024).describe('Largest `limits.memory_size` (MiB) a request may ask for.'),
  KILN_CPUS: z.coerce.number().positive().max(64).default(1).describe('CPU quota of each sandbox, in cores.'),
  KILN_PIDS_LIMIT: int(128).describe(
    "Most processes and threads one sandbox may run (under `runsc`, gVisor's own threads count too: at least 64).",
  ),
  KILN_OCI_RUNTIME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be the name of an OCI runtime registered with the Docker engine')
    .default('runc')
    .describe(
      "The OCI runtime every sandbox is created with: `runc` (Docker's default) or `runsc` (gVisor, a user-space kernel; `npm run setup -- --gvisor`).",
    ),
  KILN_SESSIONS_MAX: int(16).describe('Sessions running at once on this kiln, across projects; past it creating one is a 429.'),
  KILN_SESSIONS_PER_PROJECT: int(8).describe('Sessions one project may have running at once; past it creating one is a 429.'),
  KILN_SESSION_IDLE_TIMEOUT_SECONDS: int(300).describe('`idle_timeout_seconds` of a session when its create gives none.'),
  KILN_SESSION_MAX_IDLE_TIMEOUT_SECONDS: int(3600).describe('Largest `idle_timeout_seconds` a session may ask for.'),
  KILN_SESSION_LIFETIME_SECONDS: int(3600).describe('`max_lifetime_seconds` of a session when its create gives none.'),
  KILN_SESSION_MAX_LIFETIME_SECONDS: int(86400).describe('Largest `max_lifetime_seconds` a session may ask for.'),
  KILN_SESSION_CHECKPOINT_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30)
    .describe(
      "How long after activity a session's workspace is checkpointed into the store (0: only when kiln stops). A session whose kiln stopped or died resumes from its newest checkpoint.",
    ),
  KILN_REPLICA_URL: z
    .string()
    .refine((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v), 'must be an http:// or https:// URL')
    .transform((v) => v.replace(/\/+$/, ''))
    .optional()
    .describe(
      'Where the other replicas reach this kiln (for example http://kiln-2:8080): a call to a session this kiln holds, sent to another replica, is forwarded here, and so is a client following a run this kiln runs (GET /v1/executions/{id}/events). Unset, such a session call is a 503 `session_elsewhere` naming the holder.',
    ),
  KILN_TMPFS_MIB: int(64).describe("Size of each sandbox's writable /tmp and /mnt/req (MiB each, counted in its memory)."),
  KILN_OUTPUT_LIMIT_BYTES: int(1024 * 1024).describe(
    'Bytes of stdout, and of stderr, kept per execution; past it the stream is cut, marked truncated, and the run stopped (`output_limit`).',
  ),
  KILN_OUTPUT_FILES_MAX: z.coerce
    .number()
    .int()
    .min(0)
    .default(20)
    .describe('Files a one-shot execution may give back from /mnt/req/out (0: none are collected).'),
  KILN_OUTPUT_FILES_MAX_BYTES: int(10 * 1024 * 1024).describe(
    "Bytes in all of an execution's output files; a file that would pass it is left out (`files_truncated`).",
  ),
  KILN_RESULT_LIMIT_BYTES: int(10 * 1024 * 1024).describe(
    'Largest JSON return value of `execute()`, in bytes; a larger one stops the run (`output_limit`).',
  ),
  KILN_MAX_BODY_BYTES: int(10 * 1024 * 1024).describe('Largest request body; larger ones get 413.'),
  KILN_CONCURRENCY: int(8).describe('Executions run at once; more wait in the queue.'),
  KILN_QUEUE_LIMIT: z.coerce.number().int().min(0).default(100).describe('Executions that may wait; past it requests get 429.'),
  KILN_QUEUE_BYTES_LIMIT: int(64 * 1024 * 1024).describe('Request-body bytes that may wait in the queue; past it requests get 429.'),
  KILN_POOL_PYTHON: z.coerce
    .number()
    .int()
    .min(0)
    .max(256)
    .default(2)
    .describe('Warm Python sandboxes kept ready (0: start each on demand).'),
  KILN_POOL_JAVASCRIPT: z.coerce
    .number()
    .int()
    .min(0)
    .max(256)
    .default(2)
    .describe('Warm JavaScript sandboxes kept ready (0: start each on demand).'),
  KILN_POOL_TYPESCRIPT: z.coerce
    .number()
    .int()
    .min(0)
    .max(256)
    .default(1)
    .describe("Warm TypeScript sandboxes kept ready, each with TypeScript's transform loaded (0: start each on demand)."),
  KILN_POOL_REFILL_CONCURRENCY: int(4).describe('Pooled sandboxes being started at once, across pools.'),
  KILN_POOL_MAX_IDLE_SECONDS: int(600).describe('A pooled sandbox unused this long is replaced by a fresh one.'),
  KILN_RUNTIME_POOL_SIZE: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(1)
    .describe('Warm sandboxes kept for each custom runtime revision in use, created on its first run (0: start each on demand).'),
  KILN_RUNTIME_POOL_IDLE_SECONDS: int(300).describe("A custom runtime revision's warm pool is removed after this long without a run."),
  KILN_PYTHON_BUILD_IMAGE: z
    .string()
    .default('kiln-python-build:latest')
    .describe("Image that installs a Python runtime's packages (`npm run images` builds it)."),
  KILN_NODE_BUILD_IMAGE: z
    .string()
    .default('kiln-node-build:latest')
    .describe("Image that installs a JavaScript runtime's packages (`npm run images` builds it)."),
  KILN_BUILD_CONCURRENCY: int(1).describe('Custom runtime builds running at once.'),
  KILN_BUILD_TIMEOUT_SECONDS: int(600).describe('Longest a build may take (install, check, image); past it the build fails.'),
  KILN_BUILD_MEMORY_MIB: int(2048).describe('Memory limit of a build box (MiB; its tmpfs counts in it).'),
  KILN_BUILD_DISK_MIB: int(1024).describe('Most a build may install (MiB), and the size of its scratch space.'),
  KILN_PIP_INDEX_URL: httpUrl()
    .default('https://pypi.org/simple/')
    .describe('Python package index builds install from (a mirror, in an air-gapped install).'),
  KILN_PIP_EXTRA_INDEX_URLS: urlList().describe('Further Python package indexes, comma-separated.'),
  KILN_PIP_FIND_LINKS: urlList().describe('Pages of links to Python packages (pip --find-links), comma-separated.'),
  KILN_NPM_REGISTRY: httpUrl().default('https://registry.npmjs.org/').describe('npm registry builds install from.'),
  KILN_BUILD_ALLOW_HOSTS: commaList().describe(
    "More hosts a build may reach besides the package sources' own (where a mirror keeps its files), comma-separated.",
  ),
  KILN_BUILD_ALLOW_ADDRESSES: addressList().describe(
    'Private or loopback addresses builds may reach (a mirror by name on a private network), as KILN_EGRESS_ALLOW_ADDRESSES takes them; executions still may not.',
  ),
  KILN_BUILD_CA_FILE: z
    .string()
    .optional()
    .describe("A PEM file of CAs trusted for the package sources, besides the system's (a TLS-intercepting proxy on the way to them)."),
  KILN_QUEUE_MAX_WAIT_SECONDS: z.coerce
    .number()
    .positive()
    .default(10)
    .describe('Longest expected wait in the queue; a request that would wait longer gets 429 at once.'),
  KILN_DATA_DIR: z
    .string()
    .default('data')
    .describe(
      'Where kiln keeps its state, created on first start: the database `kiln.db`, the secrets key `secrets.key`, the egress CA (`egress-ca.pem`, `egress-ca-key.pem`).',
    ),
  KILN_SECRETS_KEY: z
    .string()
    .refine((v) => {
      try {
        decodeKey(v, 'KILN_SECRETS_KEY');
        return true;
      } catch {
        return false;
      }
    }, 'must be 32 bytes, written as base64 or as 64 hex digits (e.g. `openssl rand -base64 32`)')
    .optional()
    .describe(
      'The key secret values are encrypted with: 32 bytes, base64 or hex (`openssl rand -base64 32`). Unset: `secrets.key` in the data directory, made on first start.',
    ),
  KILN_EXECUTIONS_RETENTION_DAYS: z.coerce
    .number()
    .positive()
    .default(30)
    .describe('Executions older than this many days leave the executions log.'),
  KILN_EXECUTIONS_RETENTION_COUNT: int(100_000).describe('Most executions the log keeps per project; older ones leave it first.'),
  KILN_EGRESS_UPSTREAM_CA_FILE: z
    .string()
    .optional()
    .describe("A PEM file of extra CAs trusted for upstream HTTPS servers, besides the system's (a private PKI)."),
  KILN_EGRESS_ALLOW_ADDRESSES: addressList().describe(
    'Private, loopback or host addresses the egress proxy may reach after all (comma-separated: `10.1.0.0/16`, `127.0.0.1:8443`). Default: none.',
  ),
  KILN_EGRESS_DENY_ADDRESSES: addressList().describe(
    "Public addresses the egress proxy must never reach besides the built-in ones: the host's own public IP when kiln runs in a container or behind NAT, say.",
  ),
  KILN_EGRESS_RESOLVE: z
    .string()
    .default('{}')
    .transform((v, ctx) => {
      try {
        const parsed = JSON.parse(v) as unknown;
        if (
          parsed &&
          typeof parsed === 'object' &&
          !Array.isArray(parsed) &&
          Object.values(parsed).every((ip) => typeof ip === 'string' && isIP(ip))
        )
          return Object.fromEntries(Object.entries(parsed as Record<string, string>).map(([h, ip]) => [h.toLowerCase(), ip]));
      } catch {}
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of host name → IP address, e.g. {"api.internal":"10.0.0.5"}' });
      return z.NEVER;
    })
    .describe('Host names the egress proxy resolves without DNS (JSON: `{"api.internal":"10.0.0.5"}`); the address rules still apply.'),
  KILN_EGRESS_MAX_CONNECTIONS: int(32).describe('Connections one execution may have open through the egress proxy at once.'),
  KILN_ASYNC_CONCURRENCY: z.coerce
    .number()
    .int()
    .positive()
    .max(256)
    .optional()
    .describe(
      'Async invocations run at once, out of `KILN_CONCURRENCY` (default: half of it, at least 1); callers holding a request open never wait behind more than these.',
    ),
  KILN_WEBHOOK_RETRY_SECONDS: int(24 * 3600).describe(
    'How long a webhook is retried (exponential backoff from 1 s, at most 1 h apart) before it is marked failed.',
  ),
  KILN_WEBHOOK_TIMEOUT_SECONDS: int(10).describe('How long a webhook receiver has to answer one delivery.'),
  KILN_WEBHOOK_ALLOW_ADDRESSES: addressList().describe(
    'Private or loopback addresses webhooks may be delivered to, as `KILN_EGRESS_ALLOW_ADDRESSES` takes them (a receiver on your network); others are refused.',
  ),
  KILN_FUNCTIONS_ALLOW_ADDRESSES: addressList().describe(
    'Private or loopback addresses registered iii HTTP functions may be called at (`10.0.0.0/8`, `127.0.0.1:9000`); others are refused.',
  ),
  KILN_FUNCTIONS_ALLOW_HTTP: bool(false).describe('Let registered iii HTTP functions use plain `http://` URLs (https only otherwise).'),
  KILN_XRPC_PUBLIC: bool(false).describe(
    'Serve `POST /xrpc/at.functions.run` without a key (as the reference implementation does), in the `default` project, under the same admission limits.',
  ),
  KILN_XRPC_PUBLIC_PROJECT: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a project name: a-z, 0-9, _ and -, at most 63')
    .default('xrpc-public')
    .describe(
      "The project anonymous `at.functions.run` calls (KILN_XRPC_PUBLIC) run and are logged in: one no key belongs to, so anonymous callers never fill a real project's log.",
    ),
  KILN_XRPC_PUBLIC_CONCURRENCY: z.coerce
    .number()
    .int()
    .positive()
    .max(256)
    .optional()
    .describe(
      'Anonymous `at.functions.run` calls running at once (default: a quarter of KILN_CONCURRENCY, at least 1); past it they get 429 at once.',
    ),
  KILN_XRPC_PUBLIC_RETENTION_COUNT: int(1000).describe(
    "Most executions the anonymous project's log keeps (its own retention, besides KILN_EXECUTIONS_RETENTION_DAYS).",
  ),
  KILN_OUTBOUND_CONCURRENCY: int(8).describe(
    'Calls kiln itself makes for one project at once (iii HTTP functions, invocations of connected workers); past it they get 429 (an iii error `busy` over the WebSocket).',
  ),
  KILN_III_MAX_WORKERS: int(32).describe('iii workers one project may have connected at once; past it an upgrade gets 429.'),
  KILN_AT_PLC_URL: httpUrl().default('https://plc.directory').describe('The PLC directory `did:plc` identities are resolved through.'),
  KILN_AT_ALLOW_ADDRESSES: addressList().describe(
    'Private or loopback addresses AT resolution may fetch from (a PDS or PLC on your network); others are refused.',
  ),
  KILN_AT_ALLOW_HTTP: bool(false).describe(
    'Let AT resolution fetch over plain `http://` (a PLC directory or PDS on a test network; `did:web` on localhost).',
  ),
  KILN_OAUTH_ISSUER: httpUrl()
    .optional()
    .describe(
      'An OAuth 2.1 authorization server whose access tokens kiln accepts (Keycloak, Auth0, Entra, …): JWTs checked against its keys, issuer, audience and expiry. Unset, kiln takes keys only.',
    ),
  KILN_OAUTH_JWKS_URL: httpUrl()
    .optional()
    .describe("Where the issuer's signing keys are; default: the `jwks_uri` of its metadata (RFC 8414, else OpenID's)."),
  KILN_OAUTH_AUDIENCE: z
    .string()
    .min(1)
    .optional()
    .describe('The audience (RFC 8707 resource) tokens must name; default: `KILN_PUBLIC_URL` + `/mcp`.'),
  KILN_OAUTH_PROJECT_CLAIM: z.string().min(1).default('kiln_project').describe("The token claim that names the caller's project."),
  KILN_OAUTH_PROJECT: z
    .string()
    .regex(PROJECT, 'must be a project name (lower case letters, digits, - and _)')
    .optional()
    .describe("The project of a token without that claim (one project's install); unset, such a token is refused."),
  KILN_TOOLS_MAX_CHILDREN: int(20).describe(
    "Tool calls one execution may make from its code, its children's calls included (`tools` on an execution); the next is refused.",
  ),
  KILN_TOOLS_MAX_DEPTH: int(2).describe(
    'How deep tool calls from code nest: 2 lets a called tool call tools once more; a call deeper is refused.',
  ),
  KILN_CONSOLE: bool(true).describe('Serve the console at `/console`: pages a person signs in to with a kiln key.'),
  KILN_OPERATOR_PROJECTS: z
    .string()
    .default('default')
    .transform(items)
    .describe(
      "Projects whose `admin` keys see the whole kiln: the console's health page (every project's load together). Other projects' keys do not.",
    ),
  KILN_OAUTH_SERVER: bool(false).describe(
    'Make kiln its own OAuth 2.1 authorization server (one-box installs): clients register, a person consents with an admin key or a one-time code (`npm run kiln -- oauth code`), and `/mcp` can be added as a connector in claude.ai or ChatGPT. Not with `KILN_OAUTH_ISSUER`.',
  ),
  KILN_OAUTH_ACCESS_TOKEN_SECONDS: int(3600).describe("How long an access token of kiln's authorization server lasts."),
  KILN_OAUTH_REFRESH_TOKEN_DAYS: int(30).describe('How long a refresh token lasts unused (each use replaces it with a new one).'),
  KILN_OAUTH_RATE_PER_MINUTE: int(30).describe(
    "Requests a minute to the authorization server's consent, token, registration and revocation endpoints, per client address and per client; more get 429.",
  ),
  KILN_OAUTH_CLIENT_ALLOW_ADDRESSES: addressList().describe(
    "Private or loopback addresses a client's metadata document (a client id that is a URL) may be fetched from; others are refused.",
  ),
  KILN_OAUTH_CLIENT_ALLOW_HTTP: bool(false).describe("Let a client's metadata document be fetched over plain `http://` (a test network)."),
  KILN_PUBLIC_URL: z
    .string()
    .refine((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v), 'must be an http:// or https:// URL')
    .transform((v) => v.replace(/\/+$/, ''))
    .optional()
    .describe(
      "kiln's address as its clients reach it (behind a proxy), for the URLs it hands out (ConductorOne upload URLs); default: the request's own.",
    ),
  KILN_MCP_OUTPUT_LIMIT_BYTES: int(16 * 1024).describe(
    'Bytes of stdout, of stderr and of a return value that `/mcp` gives a model; past it the head and the tail are kept, with a marker saying how much was cut.',
  ),
  KILN_MCP_TOOL_LIST_LIMIT: z.coerce
    .number()
    .int()
    .min(0)
    .default(50)
    .describe('Saved tools `/mcp` lists one by one; a project with more lists `search_tools` and `call_tool` instead.'),
  KILN_MCP_ALLOWED_ORIGINS: commaList().describe(
    'Browser origins `/mcp` serves besides loopback ones (e.g. `https://agent.example.com`; `*` for any), comma-separated. Requests without an Origin are always served.',
  ),
  KILN_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level (logs are JSON lines on stdout).'),
  KILN_DOCS: bool(true).describe('Serve `/openapi.json` and the `/docs` page.'),
});

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** Parses the environment once; throws an Error that names every bad variable. */
/** The host name, made a valid instance name (`Web-1.local` → `web-1.local`). */
function defaultInstance(): string {
  const name = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return name || 'kiln';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (`FOO=`, or compose's `${FOO}` when unset) means unset: otherwise
  // numbers coerce to 0 and an empty KILN_HOST binds every interface.
  const set = (v: string | undefined) => (v === '' ? undefined : v);
  const input = {
    ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, set(v)])),
    PORT: set(env.KILN_PORT) ?? set(env.PORT),
    KILN_DOCKER_HOST: set(env.KILN_DOCKER_HOST) ?? set(env.DOCKER_HOST),
  };
  if (set(env.KILN_POOL_NODE) !== undefined)
    throw new Error(
      'invalid configuration:\n  KILN_POOL_NODE: replaced by KILN_POOL_JAVASCRIPT and KILN_POOL_TYPESCRIPT (one pool per language)',
    );
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.KILN_DEFAULT_TIMEOUT_SECONDS > config.KILN_MAX_TIMEOUT_SECONDS)
    throw new Error('invalid configuration:\n  KILN_DEFAULT_TIMEOUT_SECONDS: must not exceed KILN_MAX_TIMEOUT_SECONDS');
  if (config.KILN_OAUTH_ISSUER && !config.KILN_OAUTH_AUDIENCE && !config.KILN_PUBLIC_URL)
    throw new Error(
      'invalid configuration:\n  KILN_OAUTH_AUDIENCE: tokens must name kiln as their audience: set it, or KILN_PUBLIC_URL (then it is <KILN_PUBLIC_URL>/mcp)',
    );
  if (config.KILN_OAUTH_SERVER && config.KILN_OAUTH_ISSUER)
    throw new Error(
      'invalid configuration:\n  KILN_OAUTH_SERVER: kiln is its own authorization server or trusts KILN_OAUTH_ISSUER, not both',
    );
  // replicas must open each other's secrets: one key for all, never one made per data directory
  if (config.KILN_DATABASE_URL && !config.KILN_SECRETS_KEY)
    throw new Error(
      'invalid configuration:\n  KILN_SECRETS_KEY: required with KILN_DATABASE_URL (the same key on every replica; `openssl rand -base64 32`)',
    );
  if (!config.KILN_EGRESS_CA_CERT_FILE !== !config.KILN_EGRESS_CA_KEY_FILE)
    throw new Error('invalid configuration:\n  KILN_EGRESS_CA_KEY_FILE: KILN_EGRESS_CA_CERT_FILE and KILN_EGRESS_CA_KEY_FILE go together');
  // TLS files beside a local socket would be ignored: a setting that does nothing is a mistake to name
  if ((config.KILN_DOCKER_TLS_CA_FILE || config.KILN_DOCKER_TLS_CERT_FILE) && !/^(tcp|https):\/\//.test(config.KILN_DOCKER_HOST ?? ''))
    throw new Error('invalid configuration:\n  KILN_DOCKER_TLS_CA_FILE: TLS files need a tcp:// engine (KILN_DOCKER_HOST or DOCKER_HOST)');
  if (!config.KILN_DOCKER_TLS_CERT_FILE !== !config.KILN_DOCKER_TLS_KEY_FILE)
    throw new Error(
      'invalid configuration:\n  KILN_DOCKER_TLS_KEY_FILE: KILN_DOCKER_TLS_CERT_FILE and KILN_DOCKER_TLS_KEY_FILE go together',
    );
  for (const [given, max] of [
    ['KILN_SESSION_IDLE_TIMEOUT_SECONDS', 'KILN_SESSION_MAX_IDLE_TIMEOUT_SECONDS'],
    ['KILN_SESSION_LIFETIME_SECONDS', 'KILN_SESSION_MAX_LIFETIME_SECONDS'],
  ] as const)
    if (config[given] > config[max]) throw new Error(`invalid configuration:\n  ${given}: must not exceed ${max}`);
  if (config.KILN_DEFAULT_MEMORY_MIB > config.KILN_MAX_MEMORY_MIB)
    throw new Error('invalid configuration:\n  KILN_DEFAULT_MEMORY_MIB: must not exceed KILN_MAX_MEMORY_MIB');
  // anonymous callers get a project of their own: one a key belongs to would let them fill its log
  if (config.KILN_API_KEYS.some((k) => k.project === config.KILN_XRPC_PUBLIC_PROJECT))
    throw new Error(
      'invalid configuration:\n  KILN_XRPC_PUBLIC_PROJECT: must be a project no key in KILN_API_KEYS belongs to (anonymous calls run there)',
    );
  // gVisor's sentry runs as threads of the box's own cgroup: below this it cannot start a box at all,
  // and a fork bomb ends the whole sandbox rather than failing a fork (measured: a box needs 38 to start)
  if (config.KILN_OCI_RUNTIME === 'runsc' && config.KILN_PIDS_LIMIT < RUNSC_MIN_PIDS)
    throw new Error(
      `invalid configuration:\n  KILN_PIDS_LIMIT: must be at least ${RUNSC_MIN_PIDS} under runsc, whose own threads count against it`,
    );
  return Object.freeze(config);
}
