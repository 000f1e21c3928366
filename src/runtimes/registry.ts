import type { Config } from '../config.js';

export const LANGUAGES = ['python', 'javascript', 'typescript'] as const;
export type Language = (typeof LANGUAGES)[number];

/** How kiln runs one language: which image. TypeScript runs in the Node image, whose harness erases its types. */
export interface Runtime {
  language: Language;
  image: string;
}

/** Builds the language → runtime table from the configured images. */
export function createRuntimeRegistry(config: Config): Record<Language, Runtime> {
  return {
    python: { language: 'python', image: config.KILN_PYTHON_IMAGE },
    javascript: { language: 'javascript', image: config.KILN_NODE_IMAGE },
    typescript: { language: 'typescript', image: config.KILN_NODE_IMAGE },
  };
}

/** The distinct images the registry needs (checked by /readyz). */
export function requiredImages(registry: Record<Language, Runtime>): string[] {
  return [...new Set(Object.values(registry).map((r) => r.image))];
}
