// Starts kiln as its own process, as it runs for users: the load generator does not share its event
// loop. The bench starts one per OCI runtime it measures, each with its own instance and data dir.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { sleep } from './stats.js';

export const KEY = 'bench-key-0123456789abcdef';

export interface KilnProcess {
  url(path: string): string;
  /** Posts `body` to `path`; returns the status, and throws on a 200 with a wrong answer. */
  call(body: object, path?: string): Promise<number>;
  /** GET /healthz: HTTP's own round trip to this kiln, with the same client as call(). */
  ping(): Promise<number>;
  /** Any request with the bench's key, the same client as call(); the answer is not checked. */
  send(method: string, path: string, body?: object): Promise<{ status: number; json: any }>;
  /** kiln's own time for each call so far (its Server-Timing header), in ms, in call order. */
  serverTimes: number[];
  /** The same calls' stages (Server-Timing's other entries: parse, resolve, … render), in ms. */
  serverStages: Record<string, number>[];
  /** Mean seconds per pooled-sandbox start so far, by pool: kiln_pool_refill_seconds _sum / _count. */
  refillMeans(): Promise<Record<string, number>>;
  /** SIGTERM: kiln drains and removes its containers; resolves once it has exited. */
  stop(): Promise<void>;
  /** The kiln process's resident memory now, in bytes (its /proc status). */
  rss(): number;
}

/** Spawns kiln with `env` (and PATH only) and resolves once /readyz says its pools have been full. */
export async function startKilnProcess(env: Record<string, string>): Promise<KilnProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // a bench that fails half-way must not leave kiln (and its warm boxes) running: it drains on SIGTERM
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  // node:http on a kept-alive connection: fetch (undici) adds about 0.9 ms of its own to each call
  // here, which is the client's cost, not kiln's
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stop = async () => {
    agent.destroy();
    process.off('exit', onExit);
    child.kill('SIGTERM');
    await exited;
  };
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /"port":(\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error('kiln exited before it listened')));
  });
  child.stdout!.resume();
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  const serverTimes: number[] = [];
  const serverStages: Record<string, number>[] = [];
  function request(path: string, body?: string, method = body === undefined ? 'GET' : 'POST') {
    return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const headers = {
        authorization: `Bearer ${KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
      };
      const req = http.request(url(path), { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  async function send(method: string, path: string, body?: object) {
    const res = await request(path, body === undefined ? undefined : JSON.stringify(body), method);
    return { status: res.status, json: res.text ? (JSON.parse(res.text) as unknown) : null };
  }
  async function ping(): Promise<number> {
    return (await request('/healthz')).status;
  }
  async function call(body: object, path = '/v1/execute-function'): Promise<number> {
    const res = await request(path, JSON.stringify(body));
    const header = String(res.headers['server-timing'] ?? '');
    const timing = /dur=([\d.]+)/.exec(header);
    if (timing) {
      serverTimes.push(Number(timing[1]));
      serverStages.push(Object.fromEntries([...header.matchAll(/([a-z]+);dur=([\d.]+)/g)].map(([, name, ms]) => [name!, Number(ms)])));
    }
    const json = JSON.parse(res.text) as { output_status?: string; exit_code?: number; stdout?: string };
    const ok = path === '/v1/execute' ? json.exit_code === 0 && json.stdout === 'hello\n' : json.output_status === 'valid';
    if (res.status === 200 && !ok) throw new Error(`bad answer: ${JSON.stringify(json)}`);
    return res.status;
  }

  async function refillMeans(): Promise<Record<string, number>> {
    const text = await (await fetch(url('/metrics'))).text();
    const figures: Record<string, { sum?: number; count?: number }> = {};
    for (const [, kind, pool, value] of text.matchAll(/^kiln_pool_refill_seconds_(sum|count)\{pool="([^"]+)"\} (\S+)$/gm))
      (figures[pool!] ??= {})[kind as 'sum' | 'count'] = Number(value);
    return Object.fromEntries(Object.entries(figures).map(([pool, { sum, count }]) => [pool, count ? sum! / count : NaN]));
  }

  // let the pools fill: /readyz says ready once they have been full (gVisor boxes take longer to start)
  for (let i = 0; (await fetch(url('/readyz'))).status !== 200; i++) {
    if (i >= 600) {
      await stop();
      throw new Error(`kiln (${env.KILN_OCI_RUNTIME ?? 'runc'}) was not ready within 60 s`);
    }
    await sleep(100);
  }
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  return { url, call, ping, send, serverTimes, serverStages, refillMeans, stop, rss };
}
