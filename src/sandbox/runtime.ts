import type { Language } from '../model/vocabulary.js';

/**
 * How kiln runs one kind of box: a language in an image. `key` names its warm pool; two runtimes
 * with the same key are interchangeable boxes (same image, same warm-up).
 */
export interface Runtime {
  key: string;
  language: Language;
  image: string;
  warmEnv: string[];
  /** Warm boxes kept ready at the default memory limit (0: start each on demand). */
  poolSize: number;
}
