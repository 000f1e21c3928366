import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { createApp } from './app.js';
import { createAddressPolicy } from './egress/address-policy.js';
import { CertificateAuthority } from './egress/ca.js';
import { createEgressProxy } from './egress/proxy.js';
import { loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { createRuntimeRegistry } from './runtimes/registry.js';
import { createAdmission } from './sandbox/admission.js';
import { createDockerClient } from './sandbox/docker.js';
import { buildContainerSpec, sandboxLimits } from './sandbox/container-spec.js';
import { createPool, type PoolClass } from './sandbox/pool.js';
import { createRunner } from './sandbox/runner.js';

/** Composition root: config → dependencies → app → server, with a SIGTERM drain. */
export async function startKiln(config: Config) {
  const log = createLogger(config.KILN_LOG_LEVEL);
  const metrics = createMetrics();
  const docker = createDockerClient(config.KILN_DOCKER_HOST);
  const registry = createRuntimeRegistry(config);
  const admission = createAdmission({
    concurrency: config.KILN_CONCURRENCY,
    queueLimit: config.KILN_QUEUE_LIMIT,
    queueBytesLimit: config.KILN_QUEUE_BYTES_LIMIT,
    maxWaitMs: config.KILN_QUEUE_MAX_WAIT_SECONDS * 1000,
  });
  const boot = randomBytes(6).toString('hex');
  const ca = await CertificateAuthority.loadOrCreate(config.KILN_DATA_DIR);
  const egress = createEgressProxy({
    ca,
    log,
    metrics,
    policy: createAddressPolicy({
      allow: config.KILN_EGRESS_ALLOW_ADDRESSES,
      deny: config.KILN_EGRESS_DENY_ADDRESSES,
      resolve: config.KILN_EGRESS_RESOLVE,
    }),
    upstreamCa: config.KILN_EGRESS_UPSTREAM_CA_FILE ? await readFile(config.KILN_EGRESS_UPSTREAM_CA_FILE, 'utf8') : undefined,
  });
  // One pool per language, at the default memory limit. JavaScript and TypeScript share the Node image,
  // but only TypeScript's boxes load its transform while they wait: JavaScript's start cheaper.
  const sizes = { python: config.KILN_POOL_PYTHON, javascript: config.KILN_POOL_JAVASCRIPT, typescript: config.KILN_POOL_TYPESCRIPT };
  const classes: PoolClass[] = Object.values(registry).map((runtime) => ({
    name: runtime.language,
    language: runtime.language,
    image: runtime.image,
    memoryMiB: config.KILN_DEFAULT_MEMORY_MIB,
    size: sizes[runtime.language],
    spec: buildContainerSpec({
      image: runtime.image,
      instance: config.KILN_INSTANCE,
      boot,
      caPem: ca.certPem,
      labels: { 'kiln.pool': runtime.language },
      limits: sandboxLimits(config, config.KILN_DEFAULT_MEMORY_MIB),
      warmTypeScript: runtime.language === 'typescript',
    }),
  }));
  const pool = createPool({
    docker,
    classes,
    refillConcurrency: config.KILN_POOL_REFILL_CONCURRENCY,
    maxIdleMs: config.KILN_POOL_MAX_IDLE_SECONDS * 1000,
    log,
    metrics,
  });
  const runner = createRunner({ docker, config, log, boot, egress, caPem: ca.certPem, pool });
  const app = createApp({ config, log, metrics, docker, registry, admission, runJob: runner.run, warming: pool.warming });

  // Containers a crashed earlier run of this instance left behind: remove them, now or once Docker answers.
  let sweeping: NodeJS.Timeout | undefined;
  const sweep = () =>
    docker.removeLeftovers(config.KILN_INSTANCE, boot).then(
      (n) => n && log.info({ removed: n }, 'removed containers left by a previous run'),
      (err) => {
        log.warn({ err: String(err) }, 'Docker unreachable at start; will sweep leftovers when it answers');
        sweeping = setTimeout(sweep, 5000);
        sweeping.unref();
      },
    );
  await sweep();
  const booted = performance.now();
  pool.onWarm(() => log.info({ ms: Math.round(performance.now() - booted) }, 'warm pools filled: ready'));
  pool.start();

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.KILN_HOST }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  log.info({ port, host: config.KILN_HOST }, 'kiln listening');

  let closing: Promise<void> | undefined;
  /** Stops taking connections, lets every accepted execution answer, removes its containers. */
  const close = () =>
    (closing ??= (async () => {
      clearTimeout(sweeping);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await admission.idle();
      // Keep-alive connections turn idle as their last answers go out: close each as it does.
      const reaper = setInterval(() => (server as Server).closeIdleConnections(), 50);
      await closed;
      clearInterval(reaper);
      await pool.close();
      await runner.settled();
    })());
  return { port, close, log };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`kiln: ${(error as Error).message}`);
    process.exit(1);
  }
  const kiln = await startKiln(config);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      kiln.log.info({ signal }, 'draining in-flight executions');
      void kiln.close().then(() => process.exit(0));
    });
  }
}
