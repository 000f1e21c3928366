import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { createApp } from './app.js';
import { attachWorkerSocket } from './api/iii/worker-socket.js';
import { asyncConcurrency, createServices } from './services.js';
import { createPgBossQueue } from './invocations/pg-boss-queue.js';
import { openPostgresStore } from './store/postgres/postgres-store.js';
import { createAddressPolicy } from './egress/address-policy.js';
import { CertificateAuthority } from './egress/ca.js';
import { createEgressProxy } from './egress/proxy.js';
import { loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { createRuntimeRegistry } from './runtimes/registry.js';
import { createAdmission } from './sandbox/admission.js';
import { createDockerClient, type DockerTls } from './sandbox/docker.js';
import { watchEngine } from './sandbox/engine-watch.js';
import { createSandboxProvider } from './sandbox/provider.js';
import { createRunner } from './sandbox/runner.js';
import { join } from 'node:path';
import { startRetention } from './execution/retention.js';
import { loadOrCreateSecretKey, SecretBox } from './secrets/secret-box.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';
import { createBuildBox } from './runtimes/builds/build-box.js';
import { createBuilder } from './runtimes/builds/builder.js';
import { packageSources } from './runtimes/builds/package-sources.js';

/** Composition root: config → dependencies → app → server, with a SIGTERM drain. */
export async function startKiln(config: Config) {
  const log = createLogger(config.KILN_LOG_LEVEL);
  const metrics = createMetrics();
  const docker = createDockerClient(config.KILN_DOCKER_HOST, undefined, await dockerTls(config));
  const registry = createRuntimeRegistry(config);
  const admission = createAdmission({
    concurrency: config.KILN_CONCURRENCY,
    queueLimit: config.KILN_QUEUE_LIMIT,
    queueBytesLimit: config.KILN_QUEUE_BYTES_LIMIT,
    maxWaitMs: config.KILN_QUEUE_MAX_WAIT_SECONDS * 1000,
  });
  const boot = randomBytes(6).toString('hex');
  const ca = await CertificateAuthority.loadOrCreate(
    config.KILN_DATA_DIR,
    config.KILN_EGRESS_CA_CERT_FILE && config.KILN_EGRESS_CA_KEY_FILE
      ? { cert: config.KILN_EGRESS_CA_CERT_FILE, key: config.KILN_EGRESS_CA_KEY_FILE }
      : undefined,
  );
  const policy = createAddressPolicy({
    allow: config.KILN_EGRESS_ALLOW_ADDRESSES,
    deny: config.KILN_EGRESS_DENY_ADDRESSES,
    resolve: config.KILN_EGRESS_RESOLVE,
  });
  const egress = createEgressProxy({
    ca,
    log,
    metrics,
    policy,
    upstreamCa: config.KILN_EGRESS_UPSTREAM_CA_FILE ? await readFile(config.KILN_EGRESS_UPSTREAM_CA_FILE, 'utf8') : undefined,
  });
  // one kiln: SQLite in the data directory; replicas: Postgres, with the invocation queue in it too
  const shared = config.KILN_DATABASE_URL ? await openPostgresStore({ url: config.KILN_DATABASE_URL }) : null;
  const store = shared?.store ?? (await openSqliteStore({ file: join(config.KILN_DATA_DIR, 'kiln.db') }));
  const queue = shared
    ? await createPgBossQueue({
        pool: shared.pool,
        concurrency: asyncConcurrency(config),
        leaseSeconds: config.KILN_MAX_TIMEOUT_SECONDS + 120,
        log,
      })
    : undefined;
  const secretBox = new SecretBox(await loadOrCreateSecretKey({ dataDir: config.KILN_DATA_DIR, key: config.KILN_SECRETS_KEY }));
  const retention = startRetention({
    store,
    days: config.KILN_EXECUTIONS_RETENTION_DAYS,
    keepPerProject: config.KILN_EXECUTIONS_RETENTION_COUNT,
    // anonymous XRPC callers' own project keeps its own, smaller log
    keep: config.KILN_XRPC_PUBLIC ? { [config.KILN_XRPC_PUBLIC_PROJECT]: config.KILN_XRPC_PUBLIC_RETENTION_COUNT } : {},
    log,
    metrics,
  });
  // One warm pool per runtime (language), at the default memory limit.
  const provider = createSandboxProvider({ docker, config, log, metrics, boot, caPem: ca.certPem, runtimes: Object.values(registry) });
  const runner = createRunner({ provider, config, egress });
  // Custom runtimes: builds in boxes of their own, reaching only the package sources.
  const sources = packageSources(config, policy);
  const runBuildBox = createBuildBox({ docker, egress, config, caPem: ca.certPem, boot, sources });
  const builder = createBuilder({ store: store.runtimes, images: docker.images, runBuildBox, registry, config, log });
  metrics.sources.running = () => admission.running;
  metrics.sources.builds = builder.queued;
  const services = createServices({
    config,
    log,
    metrics,
    registry,
    admission,
    runJob: runner.run,
    store,
    secretBox,
    builds: builder,
    sourcesFingerprint: sources.fingerprint,
    owner: `${config.KILN_INSTANCE}/${boot}`,
    queue,
    boxes: { provider, egress },
  });
  const app = createApp({ config, log, metrics, docker, registry, services, warming: provider.warming });

  // Containers a crashed earlier run of this instance left, now or once Docker answers; and those an
  // engine outage leaves, when it is back.
  const engine = watchEngine({ docker, instance: config.KILN_INSTANCE, boot, log });
  await engine.check();
  const booted = performance.now();
  provider.onWarm(() => log.info({ ms: Math.round(performance.now() - booted) }, 'warm pools filled: ready'));
  provider.start();
  await builder.resume();

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.KILN_HOST }, () => resolve(s));
  });
  // iii workers (iii-sdk) connect to ws://<kiln>/iii with a kiln key
  const workerSocket = attachWorkerSocket(server as Server, {
    workers: services.workers,
    authenticate: services.keys.authenticate,
    log,
    maxResultBytes: config.KILN_RESULT_LIMIT_BYTES,
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  log.info({ port, host: config.KILN_HOST, ociRuntime: config.KILN_OCI_RUNTIME }, 'kiln listening');
  // async invocations: what a dead kiln left running ends `interrupted`; what is queued runs
  await services.start();

  let closing: Promise<void> | undefined;
  /** Stops taking connections, lets every accepted execution answer and be logged, removes its containers. */
  const close = () =>
    (closing ??= (async () => {
      engine.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // running invocations finish; queued ones stay queued for the next start; workers are let go
      workerSocket.close();
      // (a database away must not stop the drain: the boxes are removed all the same)
      await services.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'stopping the background work failed; draining on'));
      await admission.idle();
      // Keep-alive connections turn idle as their last answers go out: close each as it does.
      const reaper = setInterval(() => (server as Server).closeIdleConnections(), 50);
      await closed;
      clearInterval(reaper);
      await builder.close();
      await provider.close();
      await retention.stop();
      await store.close();
    })());
  return { port, close, log };
}

/** The PEM files of a TLS engine endpoint, read once at start (KILN_DOCKER_TLS_*); none, plain. */
async function dockerTls(config: Config): Promise<DockerTls | undefined> {
  const files = { ca: config.KILN_DOCKER_TLS_CA_FILE, cert: config.KILN_DOCKER_TLS_CERT_FILE, key: config.KILN_DOCKER_TLS_KEY_FILE };
  if (!files.ca && !files.cert) return undefined;
  const read = (f: string | undefined) => (f ? readFile(f, 'utf8') : Promise.resolve(undefined));
  const [ca, cert, key] = await Promise.all([read(files.ca), read(files.cert), read(files.key)]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`kiln: ${(error as Error).message}`);
    process.exit(1);
  }
  let kiln: Awaited<ReturnType<typeof startKiln>>;
  try {
    kiln = await startKiln(config);
  } catch (error) {
    // e.g. the database or a configured file is not there: one line that says so, not a stack
    const message = (error as Error).message || String(error);
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : '';
    console.error(`kiln: could not start: ${message}${cause && !message.includes(cause) ? ` (${cause})` : ''}`);
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      kiln.log.info({ signal }, 'draining in-flight executions');
      void kiln.close().then(() => process.exit(0));
    });
  }
}
