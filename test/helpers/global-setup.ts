import Docker from 'dockerode';
import { loadConfig } from '../../src/config.js';
import { createRuntimeRegistry, requiredImages } from '../../src/runtimes/registry.js';
import { removeTestContainers, TEST_KEY } from './kiln.js';
import { dropTestDatabases, POSTGRES_MODE } from './postgres.js';

/** Fails fast, with the fix, when the engine or the images are missing; sweeps leftovers of earlier runs. */
export default async function setup() {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
  } catch {
    throw new Error('integration tests need a running Docker engine at /var/run/docker.sock (see README)');
  }
  // the images kiln itself would need, named where each language is described
  const config = loadConfig({ KILN_API_KEYS: TEST_KEY });
  // the sandbox images, and the build images of custom runtimes
  for (const image of [...requiredImages(createRuntimeRegistry(config)), config.KILN_PYTHON_BUILD_IMAGE, config.KILN_NODE_BUILD_IMAGE]) {
    try {
      await docker.getImage(image).inspect();
    } catch {
      throw new Error(`sandbox image ${image} is missing: run \`npm run images\` (or \`npm run images -- --air-gapped\`)`);
    }
  }
  await removeTestContainers();
  return async () => {
    await removeTestContainers();
    if (POSTGRES_MODE) await dropTestDatabases();
  };
}
