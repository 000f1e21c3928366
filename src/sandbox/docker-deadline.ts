import type Docker from 'dockerode';

export class DockerTimeout extends Error {
  constructor(what: string) {
    super(`Docker did not answer ${what} in time`);
    this.name = 'DockerTimeout';
  }
}

/** A wedged engine must not hold a request forever: every Docker call gets a deadline. */
export function timed<T>(what: string, ms: number, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([call, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DockerTimeout(what)), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

/** A removal that failed because Docker was away (restarting, say): tried again later, in the background. */
export function retryRemoval(container: Docker.Container): void {
  for (const delay of [5_000, 30_000, 120_000]) setTimeout(() => void container.remove({ force: true }).catch(() => {}), delay).unref();
}
