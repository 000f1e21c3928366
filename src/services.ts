import type { Logger } from 'pino';
import { executionView } from './api/riza/render.js';
import { createAtResolver } from './at/resolve.js';
import { createAtRunner } from './at/run.js';
import type { BuildQueue } from './runtimes/builds/builder.js';
import { createC1Functions } from './c1/functions.js';
import { createC1InvocationReads } from './c1/invocation-reads.js';
import type { Config } from './config.js';
import { createAddressPolicy } from './egress/address-policy.js';
import { createConcurrencyCap } from './execution/concurrency-cap.js';
import { createExecutor } from './execution/executor.js';
import type { RunJob } from './sandbox/job.js';
import { createResolver } from './execution/resolve.js';
import { createHttpFunctions } from './iii/http-functions.js';
import { createWorkerHub } from './iii/worker-hub.js';
import { createExecutionStatuses } from './invocations/execution-status.js';
import { createInvocations } from './invocations/invocations.js';
import { createRunEvents } from './execution/run-events.js';
import { createLocalQueue, type InvocationQueue } from './invocations/queue.js';
import { createWebhooks } from './invocations/webhooks.js';
import type { Metrics } from './metrics.js';
import { createMetricsHistory } from './metrics-history.js';
import { createCustomRuntimes } from './runtimes/custom/runtimes.js';
import type { Language, Runtime } from './runtimes/registry.js';
import { type Admission, createAdmission } from './sandbox/admission.js';
import type { SecretBox } from './secrets/secret-box.js';
import { createSecrets } from './secrets/secrets.js';
import type { SandboxProvider } from './sandbox/provider.js';
import type { EgressProxy } from './egress/proxy.js';
import { createSessionCalls } from './sessions/session-calls.js';
import { createCheckpoints } from './sessions/session-checkpoints.js';
import { createSessions } from './sessions/sessions.js';
import { createKeys } from './access/keys.js';
import { createTokenVerifier } from './access/tokens.js';
import { createAuthorizationServer } from './access/oauth/authorization-server.js';
import { createSessionProcesses } from './sessions/session-processes.js';
import { createSessionFiles } from './sessions/session-files.js';
import type { Store } from './store/store.js';
import { createTools } from './tools/tools.js';

export interface ServiceDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  registry: Record<Language, Runtime>;
  admission: Admission;
  runJob: RunJob;
  store: Store;
  secretBox: SecretBox;
  /** Custom runtime builds (src/runtimes/builds/), and the package-source part of their images' hashes. */
  builds: BuildQueue;
  sourcesFingerprint: string;
  /** This kiln's name for the async runs it claims (one per start): `<instance>/<boot>`. */
  owner: string;
  /** The shared invocation queue (replicas on Postgres); unset, the local one over the store. */
  queue?: InvocationQueue;
  /** Where sessions get their boxes, and the egress proxy their tunnelled connections reach. */
  boxes: { provider: Pick<SandboxProvider, 'acquire' | 'release' | 'refill'>; egress: Pick<EgressProxy, 'serve' | 'end'> };
}

/**
 * The address policies of kiln's own outbound calls, built once from the settings: each kind of
 * call has its own allow list, and all share the deny list and the test resolver.
 */
function addressPolicies(config: Config) {
  const policy = (allow: string) =>
    createAddressPolicy({ allow, deny: config.KILN_EGRESS_DENY_ADDRESSES, resolve: config.KILN_EGRESS_RESOLVE });
  return {
    webhooks: policy(config.KILN_WEBHOOK_ALLOW_ADDRESSES),
    functions: policy(config.KILN_FUNCTIONS_ALLOW_ADDRESSES),
    at: policy(config.KILN_AT_ALLOW_ADDRESSES),
    oauthClients: policy(config.KILN_OAUTH_CLIENT_ALLOW_ADDRESSES),
  };
}

/**
 * Tools called from code (issue 27): the bounds of a tree of calls, and where its children are
 * admitted. Each depth has slots of its own, so that a parent holding a slot while it waits never
 * keeps its child from one (the deepest waits on nothing): no tree can deadlock a full pool.
 */
function toolCallBounds(config: Config) {
  const childAdmissions = Array.from({ length: config.KILN_TOOLS_MAX_DEPTH }, () =>
    createAdmission({
      concurrency: config.KILN_CONCURRENCY,
      queueLimit: config.KILN_QUEUE_LIMIT,
      queueBytesLimit: config.KILN_QUEUE_BYTES_LIMIT,
      maxWaitMs: config.KILN_QUEUE_MAX_WAIT_SECONDS * 1000,
    }),
  );
  return {
    maxChildren: config.KILN_TOOLS_MAX_CHILDREN,
    maxDepth: config.KILN_TOOLS_MAX_DEPTH,
    maxBodyBytes: config.KILN_MAX_BODY_BYTES,
    admission: (depth: number) => childAdmissions[Math.min(depth, childAdmissions.length) - 1]!,
  };
}

/**
 * The composition root of the services every surface shares: tools, secrets, custom runtimes, the
 * one execution path, async invocations with their webhooks, and the services of the C1, iii and
 * AT dialects over it. Adapters are handed these, never the store. `start` begins the background
 * work (after the app can serve), `stop` ends it (SIGTERM: what runs finishes, what waits stays queued).
 */
export function createServices(deps: ServiceDeps) {
  const { config, log, store } = deps;
  const policies = addressPolicies(config);
  const secrets = createSecrets({ store, box: deps.secretBox });
  // access tokens: of kiln's own authorization server, or of the issuer it trusts (never both)
  const authorizationServer = config.KILN_OAUTH_SERVER
    ? createAuthorizationServer({ store: store.oauth, policy: policies.oauthClients, config, log })
    : null;
  const keys = createKeys({
    store: store.keys,
    bootstrap: config.KILN_API_KEYS,
    verifyToken: authorizationServer?.verify ?? createTokenVerifier(config),
  });
  const runtimes = createCustomRuntimes({
    store: store.runtimes,
    builds: deps.builds,
    config,
    sourcesFingerprint: deps.sourcesFingerprint,
  });
  const tools = createTools({ store, secrets, runtimes });
  const resolve = createResolver({ config, registry: deps.registry, tools, secrets, runtimes });
  const execute = createExecutor({
    ...{ resolve, admission: deps.admission, runJob: deps.runJob, metrics: deps.metrics, store, log },
    tools: toolCallBounds(config),
  });
  const statuses = createExecutionStatuses(store);
  const webhooks = createWebhooks({
    store: store.invocations,
    box: deps.secretBox,
    policy: policies.webhooks,
    log,
    retrySeconds: config.KILN_WEBHOOK_RETRY_SECONDS,
    timeoutSeconds: config.KILN_WEBHOOK_TIMEOUT_SECONDS,
    // the body is what GET /v1/executions/{id} answers: Riza's shape is the webhook's documented one
    render: async (project, id) => {
      const status = await statuses.get(project, id);
      return status && executionView(status);
    },
  });
  const queue = deps.queue ?? createLocalQueue({ store: store.invocations, concurrency: asyncConcurrency(config), log });
  // the events of streamed and async runs, for the clients that follow them (GET /v1/executions/{id}/events)
  const runEvents = createRunEvents();
  const invocations = createInvocations({
    store: store.invocations,
    execute,
    box: deps.secretBox,
    queue,
    log,
    owner: deps.owner,
    onEnded: webhooks.wake,
    runEvents,
    recordExecution: (record) => store.executions.record(record),
    // a shared queue means other kilns: orphans are told by heartbeats, cancels travel by the row
    ...(deps.queue
      ? {
          replicas: {
            instance: config.KILN_INSTANCE,
            replicaTimeoutMs: config.KILN_REPLICA_TIMEOUT_SECONDS * 1000,
            url: config.KILN_REPLICA_URL ?? null,
          },
        }
      : {}),
  });
  const c1 = createC1Functions({ store, tools, invocations });
  const c1Reads = createC1InvocationReads({ store, statuses });
  // one share per project of the calls kiln itself makes and waits on (iii HTTP functions, workers)
  const outbound = createConcurrencyCap(config.KILN_OUTBOUND_CONCURRENCY, 'calls to functions for one project');
  const httpFunctions = createHttpFunctions({
    outbound,
    maxAnswerBytes: config.KILN_RESULT_LIMIT_BYTES,
    store,
    secrets,
    policy: policies.functions,
    allowHttp: config.KILN_FUNCTIONS_ALLOW_HTTP,
    maxTimeoutMs: config.KILN_MAX_TIMEOUT_SECONDS * 1000,
    log,
  });
  const atRun = createAtRunner({
    resolver: createAtResolver({
      policy: policies.at,
      plcUrl: config.KILN_AT_PLC_URL,
      allowHttp: config.KILN_AT_ALLOW_HTTP,
      timeoutMs: 10_000,
      log,
    }),
    execute,
    config,
  });
  // anonymous at.functions.run calls (KILN_XRPC_PUBLIC): a project of their own and a share of the boxes
  const atAnonymous = config.KILN_XRPC_PUBLIC
    ? {
        project: config.KILN_XRPC_PUBLIC_PROJECT,
        cap: createConcurrencyCap(
          config.KILN_XRPC_PUBLIC_CONCURRENCY ?? Math.max(1, Math.floor(config.KILN_CONCURRENCY / 4)),
          'anonymous at.functions.run calls',
        ),
      }
    : null;
  const workers = createWorkerHub({
    store,
    tools,
    execute,
    httpFunctions,
    log,
    timeoutMs: config.KILN_MAX_TIMEOUT_SECONDS * 1000,
    outbound,
    maxWorkers: config.KILN_III_MAX_WORKERS,
    maxResultBytes: config.KILN_RESULT_LIMIT_BYTES,
  });
  const sessions = createSessions({
    config,
    store: store.sessions,
    checkpoints: createCheckpoints({ store: store.sessions, box: deps.secretBox, log }),
    secretBox: deps.secretBox,
    resolve,
    provider: deps.boxes.provider,
    egress: deps.boxes.egress,
    log,
    owner: deps.owner,
    ownerUrl: config.KILN_REPLICA_URL ?? null,
    ...(deps.queue ? { liveOwners: invocations.liveOwners } : {}),
  });
  const sessionCalls = createSessionCalls({ sessions, executions: store.executions, config, log, toolsFor: execute.toolsFor });
  const sessionFiles = createSessionFiles({ sessions, maxFileBytes: config.KILN_TMPFS_MIB * 1024 * 1024 });
  const sessionProcesses = createSessionProcesses({ sessions, executions: store.executions, config, log });
  const health = createMetricsHistory(deps.metrics);
  return {
    keys,
    authorizationServer,
    runEvents,
    secrets,
    secretBox: deps.secretBox,
    sessions,
    sessionCalls,
    sessionFiles,
    sessionProcesses,
    tools,
    runtimes,
    execute,
    statuses,
    health,
    invocations,
    webhooks,
    c1,
    c1Reads,
    httpFunctions,
    workers,
    atRun,
    atAnonymous,
    /** Whether the database answers (for /readyz). */
    ping: () => store.ping(),
    async start() {
      // sessions first: what an earlier start left running is paused before invocations' slower start
      await sessions.start();
      await invocations.start();
      webhooks.start();
      health.start();
    },
    async stop() {
      health.stop();
      workers.close();
      await sessions.stop();
      await invocations.stop();
      await webhooks.stop();
    },
  };
}

export type Services = ReturnType<typeof createServices>;

/** How many async invocations a kiln runs at once: KILN_ASYNC_CONCURRENCY, else half the sync limit. */
export const asyncConcurrency = (config: Config) => config.KILN_ASYNC_CONCURRENCY ?? Math.max(1, Math.floor(config.KILN_CONCURRENCY / 2));
