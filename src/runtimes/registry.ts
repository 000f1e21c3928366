import type { Config } from '../config.js';

export const LANGUAGES = ['python', 'javascript', 'typescript'] as const;
export type Language = (typeof LANGUAGES)[number];

/** How kiln runs one language: which image, and whether the code is transpiled first. */
export interface Runtime {
  language: Language;
  image: string;
  /** TypeScript is turned into JavaScript on the host and runs in the Node image. */
  transpile: 'typescript' | null;
}

/** Builds the language → runtime table from the configured images. */
export function createRuntimeRegistry(config: Config): Record<Language, Runtime> {
  return {
    python: { language: 'python', image: config.KILN_PYTHON_IMAGE, transpile: null },
    javascript: { language: 'javascript', image: config.KILN_NODE_IMAGE, transpile: null },
    typescript: { language: 'typescript', image: config.KILN_NODE_IMAGE, transpile: 'typescript' },
  };
}

/** The distinct images the registry needs (checked by /readyz). */
export function requiredImages(registry: Record<Language, Runtime>): string[] {
  return [...new Set(Object.values(registry).map((r) => r.image))];
}
