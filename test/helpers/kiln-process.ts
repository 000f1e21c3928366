import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TEST_KEY } from './kiln.js';
import { POSTGRES_MODE, postgresEnvFor } from './postgres.js';

const root = join(import.meta.dirname, '..', '..');

export interface KilnProcess {
  url: string;
  pid: number;
  /** Everything the process printed on stdout so far (its JSON log lines). */
  output(): string;
  /** SIGTERM, and the exit code once it has exited. */
  stop(): Promise<number | null>;
  /** SIGKILL: kiln dies at once, as in a crash; resolves once it has. */
  kill(): Promise<void>;
}

/**
 * kiln as its own process (`node --import tsx src/main.ts`: the source, so tests need no build; users
 * run the same code compiled, `node dist/main.js`): a real restart is a new one.
 */
export async function spawnKiln(env: Record<string, string>): Promise<KilnProcess> {
  // KILN_TEST_STORE=postgres: the data directory's own database (a restart on it finds its state)
  const store = POSTGRES_MODE && env.KILN_DATA_DIR && !env.KILN_DATABASE_URL ? await postgresEnvFor(env.KILN_DATA_DIR) : {};
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, KILN_API_KEYS: TEST_KEY, PORT: '0', ...store, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never left running behind a test that gave up on it
      reject(new Error(`kiln did not start: ${err}`));
    }, 30_000);
    child.stdout.on('data', () => {
      const m = /"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => reject(new Error(`kiln exited with ${code}: ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
