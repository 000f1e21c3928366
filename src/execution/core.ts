import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Language, Runtime } from '../runtimes/registry.js';
import type { Admission } from '../sandbox/admission.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { createSecrets } from '../secrets/secrets.js';
import type { Store } from '../store/store.js';
import type { BuildQueue } from '../builds/builder.js';
import { createCustomRuntimes } from '../runtimes/custom/runtimes.js';
import { createTools } from '../tools/tools.js';
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
}

/** The services every surface shares: tools, secrets, custom runtimes, and the one execution path. */
export function createCore(deps: CoreDeps) {
  const secrets = createSecrets({ store: deps.store, box: deps.secretBox });
  const runtimes = createCustomRuntimes({ store: deps.store.runtimes, builds: deps.builds, config: deps.config, sourcesFingerprint: deps.sourcesFingerprint });
  const tools = createTools({ store: deps.store, secrets, runtimes });
  const resolve = createResolver({ config: deps.config, registry: deps.registry, tools, secrets, runtimes });
  const execute = createExecutor({ resolve, admission: deps.admission, runJob: deps.runJob, metrics: deps.metrics, store: deps.store, log: deps.log });
  return { store: deps.store, secrets, tools, runtimes, execute };
}

export type Core = ReturnType<typeof createCore>;
