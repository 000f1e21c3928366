import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createAddressPolicy } from '../egress/address-policy.js';
import type { Metrics } from '../metrics.js';
import type { Language, Runtime } from '../runtimes/registry.js';
import type { Admission } from '../sandbox/admission.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { createSecrets } from '../secrets/secrets.js';
import type { Store } from '../store/store.js';
import type { BuildQueue } from '../builds/builder.js';
import { createAtResolver } from '../at/resolve.js';
import { createAtRunner } from '../at/run.js';
import { createC1Functions } from '../c1/functions.js';
import { createHttpFunctions } from '../iii/http-functions.js';
import { createWorkerHub } from '../iii/worker-hub.js';
import { createInvocations } from '../invocations/invocations.js';
import { createLocalQueue, type InvocationQueue } from '../invocations/queue.js';
import { createWebhooks } from '../invocations/webhooks.js';
import { createCustomRuntimes } from '../runtimes/custom/runtimes.js';
import { createTools } from '../tools/tools.js';
import { createConcurrencyCap } from './concurrency-cap.js';
import { createExecutor } from './executor.js';
import type { RunJob } from './job.js';
import { createResolver } from './resolve.js';

export interface CoreDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  registry: Record<Language, Runtime>;
  admission: Admission;
  runJob: RunJob;
  store: Store;
  secretBox: SecretBox;
  /** Custom runtime builds (src/builds/), and the package-source part of their images' hashes. */
  builds: BuildQueue;
  sourcesFingerprint: string;
  /** This kiln's name for the async runs it claims (one per start): `<instance>/<boot>`. */
  owner: string;
  /** The shared invocation queue (replicas on Postgres); unset, the local one over the store. */
  queue?: InvocationQueue;
  /** An ended execution as its webhook carries it (what GET /v1/executions/{id} answers). */
  renderExecution: (store: Store, project: string, id: string) => Promise<unknown>;
}

/**
 * The services every surface shares: tools, secrets, custom runtimes, the one execution path, and
 * async invocations over it with their webhooks. `start` begins the background work (after the
 * app can serve), `stop` ends it (SIGTERM: what runs finishes, what waits stays queued).
 */
export function createCore(deps: CoreDeps) {
  const { config } = deps;
  const secrets = createSecrets({ store: deps.store, box: deps.secretBox });
  const runtimes = createCustomRuntimes({
    store: deps.store.runtimes,
    builds: deps.builds,
    config,
    sourcesFingerprint: deps.sourcesFingerprint,
  });
  const tools = createTools({ store: deps.store, secrets, runtimes });
  const resolve = createResolver({ config, registry: deps.registry, tools, secrets, runtimes });
  const execute = createExecutor({
    resolve,
    admission: deps.admission,
    runJob: deps.runJob,
    metrics: deps.metrics,
    store: deps.store,
    log: deps.log,
  });
  const webhooks = createWebhooks({
    store: deps.store.invocations,
    box: deps.secretBox,
    policy: createAddressPolicy({
      allow: config.KILN_WEBHOOK_ALLOW_ADDRESSES,
      deny: config.KILN_EGRESS_DENY_ADDRESSES,
      resolve: config.KILN_EGRESS_RESOLVE,
    }),
    log: deps.log,
    retrySeconds: config.KILN_WEBHOOK_RETRY_SECONDS,
    timeoutSeconds: config.KILN_WEBHOOK_TIMEOUT_SECONDS,
    render: (project, id) => deps.renderExecution(deps.store, project, id),
  });
  const queue = deps.queue ?? createLocalQueue({ store: deps.store.invocations, concurrency: asyncConcurrency(config), log: deps.log });
  const invocations = createInvocations({
    store: deps.store.invocations,
    execute,
    box: deps.secretBox,
    queue,
    log: deps.log,
    owner: deps.owner,
    onEnded: webhooks.wake,
    recordExecution: (record) => deps.store.recordExecution(record),
    // a shared queue means other kilns: orphans are told by heartbeats, cancels travel by the row
    ...(deps.queue ? { replicas: { instance: config.KILN_INSTANCE, replicaTimeoutMs: config.KILN_REPLICA_TIMEOUT_SECONDS * 1000 } } : {}),
  });
  const c1 = createC1Functions({ store: deps.store, tools, invocations });
  // one share per project of the calls kiln itself makes and waits on (iii HTTP functions, workers)
  const outbound = createConcurrencyCap(config.KILN_OUTBOUND_CONCURRENCY, 'calls to functions for one project');
  const httpFunctions = createHttpFunctions({
    outbound,
    maxAnswerBytes: config.KILN_RESULT_LIMIT_BYTES,
    store: deps.store,
    secrets,
    policy: createAddressPolicy({
      allow: config.KILN_FUNCTIONS_ALLOW_ADDRESSES,
      deny: config.KILN_EGRESS_DENY_ADDRESSES,
      resolve: config.KILN_EGRESS_RESOLVE,
    }),
    allowHttp: config.KILN_FUNCTIONS_ALLOW_HTTP,
    maxTimeoutMs: config.KILN_MAX_TIMEOUT_SECONDS * 1000,
    log: deps.log,
  });
  const atRun = createAtRunner({
    resolver: createAtResolver({
      policy: createAddressPolicy({
        allow: config.KILN_AT_ALLOW_ADDRESSES,
        deny: config.KILN_EGRESS_DENY_ADDRESSES,
        resolve: config.KILN_EGRESS_RESOLVE,
      }),
      plcUrl: config.KILN_AT_PLC_URL,
      allowHttp: config.KILN_AT_ALLOW_HTTP,
      timeoutMs: 10_000,
      log: deps.log,
    }),
    execute,
    config,
  });
  const workers = createWorkerHub({
    store: deps.store,
    tools,
    execute,
    httpFunctions,
    log: deps.log,
    timeoutMs: config.KILN_MAX_TIMEOUT_SECONDS * 1000,
    outbound,
    maxWorkers: config.KILN_III_MAX_WORKERS,
    maxResultBytes: config.KILN_RESULT_LIMIT_BYTES,
  });
  return {
    store: deps.store,
    secrets,
    secretBox: deps.secretBox,
    tools,
    runtimes,
    execute,
    invocations,
    webhooks,
    c1,
    httpFunctions,
    workers,
    atRun,
    async start() {
      await invocations.start();
      webhooks.start();
    },
    async stop() {
      workers.close();
      await invocations.stop();
      await webhooks.stop();
    },
  };
}

export type Core = ReturnType<typeof createCore>;

/** How many async invocations a kiln runs at once: KILN_ASYNC_CONCURRENCY, else half the sync limit. */
export const asyncConcurrency = (config: Config) => config.KILN_ASYNC_CONCURRENCY ?? Math.max(1, Math.floor(config.KILN_CONCURRENCY / 2));
