import type { Config } from '../config.js';

import { LANGUAGES, type Language } from '../model/vocabulary.js';
import type { Runtime } from '../sandbox/runtime.js';

export { LANGUAGES, type Language, type Runtime };

/**
 * Everything kiln's host side knows about one language, in one place: the setting that names its
 * image, the setting that sizes its warm pool, and what its harness warms while it waits. TypeScript runs in the Node image, whose harness erases its types.
 */
interface LanguageDescriptor {
  image: 'KILN_PYTHON_IMAGE' | 'KILN_NODE_IMAGE';
  pool: 'KILN_POOL_PYTHON' | 'KILN_POOL_JAVASCRIPT' | 'KILN_POOL_TYPESCRIPT';
  /** Environment the box starts with so that the harness warms what this language needs. */
  warmEnv: string[];
}

export const LANGUAGE_DESCRIPTORS: Readonly<Record<Language, LanguageDescriptor>> = {
  python: { image: 'KILN_PYTHON_IMAGE', pool: 'KILN_POOL_PYTHON', warmEnv: [] },
  javascript: { image: 'KILN_NODE_IMAGE', pool: 'KILN_POOL_JAVASCRIPT', warmEnv: [] },
  // only TypeScript's boxes load the type-erasing transform while they wait: JavaScript's start cheaper
  typescript: { image: 'KILN_NODE_IMAGE', pool: 'KILN_POOL_TYPESCRIPT', warmEnv: ['KILN_WARM_TYPESCRIPT=1'] },
};

/** Builds the language → runtime table from the configured images and pool sizes. */
export function createRuntimeRegistry(config: Config): Record<Language, Runtime> {
  const entry = (language: Language): Runtime => {
    const d = LANGUAGE_DESCRIPTORS[language];
    return { key: language, language, image: config[d.image], warmEnv: d.warmEnv, poolSize: config[d.pool] };
  };
  return { python: entry('python'), javascript: entry('javascript'), typescript: entry('typescript') };
}

/** The distinct images the registry needs (checked by /readyz). */
export function requiredImages(registry: Record<Language, Runtime>): string[] {
  return [...new Set(Object.values(registry).map((r) => r.image))];
}
