import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Language, Runtime } from '../runtimes/registry.js';
import type { Admission } from '../sandbox/admission.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { createSecrets } from '../secrets/secrets.js';
import type { Store } from '../store/store.js';
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
}

/** The services every surface shares: tools, secrets, and the one execution path. */
export function createCore(deps: CoreDeps) {
  const secrets = createSecrets({ store: deps.store, box: deps.secretBox });
  const tools = createTools({ store: deps.store, secrets });
  const resolve = createResolver({ config: deps.config, registry: deps.registry, tools, secrets });
  const execute = createExecutor({ resolve, admission: deps.admission, runJob: deps.runJob, metrics: deps.metrics, store: deps.store, log: deps.log });
  return { store: deps.store, secrets, tools, execute };
}

export type Core = ReturnType<typeof createCore>;
