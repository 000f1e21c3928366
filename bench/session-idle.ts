// Sessions (issue 23), idle cost: the memory of one idle session box, as `docker stats` shows it, and
// kiln's own resident memory per idle session; then how many idle sessions fit this machine within
// the configured limits. Informational: issue 23 sets no target for it.
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import Docker from 'dockerode';
import type { KilnProcess } from './kiln-process.js';
import { percentile, sleep } from './stats.js';

export interface IdleFigures {
  language: string;
  /** Idle sessions measured at once. */
  n: number;
  /** One idle session box's memory (usage less inactive file pages, as `docker stats`), MiB: p50 and max. */
  boxMiB: number;
  boxMaxMiB: number;
  /** The box's memory limit, the bound Docker enforces (memory_stats.limit), MiB. */
  limitMiB: number;
  /** kiln's resident memory with the n sessions idle, above what it was before them, per session, MiB. */
  rssPerSessionMiB: number;
  /** The host's available memory (MemAvailable) before the sessions, kiln and its warm pools running, MiB. */
  availableMiB: number;
  /** KILN_SESSIONS_MAX and KILN_SESSIONS_PER_PROJECT as configured. */
  sessionsMax: number;
  perProject: number;
}

const MiB = 2 ** 20;
const SETTLE_MS = 2000;

/** MemAvailable from /proc/meminfo (what can be had without swapping), in bytes; os.freemem() elsewhere. */
function memAvailable(): number {
  try {
    const kB = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kB) return Number(kB) * 1024;
  } catch {
    // not Linux: the OS's own figure
  }
  return freemem();
}

/** What `docker stats` shows as a container's memory: usage less inactive file pages (cgroup v1, then v2). */
function usedBytes(memory: Docker.MemoryStats): number {
  const stats = (memory.stats ?? {}) as Partial<Record<string, number>>;
  const v1 = stats.total_inactive_file;
  if (v1 !== undefined && v1 < memory.usage) return memory.usage - v1;
  const v2 = stats.inactive_file ?? 0;
  return v2 < memory.usage ? memory.usage - v2 : memory.usage;
}

/**
 * Opens `n` sessions of `language` at the default limits, finds each one's box, lets them settle
 * idle, and reads each box's memory from Docker and kiln's RSS; ends the sessions.
 */
export async function measureIdle(
  kiln: KilnProcess,
  language: string,
  n: number,
  limits: { sessionsMax: number; perProject: number },
): Promise<IdleFigures> {
  if (n > limits.perProject || n > limits.sessionsMax) throw new Error(`${n} idle sessions exceed the configured limits`);
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  await sleep(SETTLE_MS); // earlier cases' removals and refills done: kiln's RSS and MemAvailable at rest
  const availableMiB = memAvailable() / MiB;
  const rssBefore = kiln.rss();
  const ids: string[] = [];
  const boxes: Docker.Container[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const res = await kiln.send('POST', '/v1/sessions', { language });
      if (res.status !== 200) throw new Error(`session create (${language}) answered ${res.status}: ${JSON.stringify(res.json)}`);
      ids.push(res.json.id);
      // a pooled box carries no session label: its hostname is its container id's first 12 digits
      const cmd = await kiln.send('POST', `/v1/sessions/${res.json.id}/commands`, { cmd: ['cat', '/etc/hostname'] });
      const hostname = String(cmd.json?.stdout ?? '').trim();
      if (cmd.status !== 200 || !/^[0-9a-f]{12}$/.test(hostname))
        throw new Error(`session ${res.json.id}: no container id from its hostname (${cmd.status}: ${JSON.stringify(cmd.json)})`);
      const box = docker.getContainer(hostname);
      const info = await box.inspect();
      if (info.Config.Labels?.['kiln.managed'] !== 'true' || !info.State.Running)
        throw new Error(`session ${res.json.id}: container ${hostname} is not a running kiln box`);
      boxes.push(box);
    }
    await sleep(SETTLE_MS);
    const rssAfter = kiln.rss();
    const stats = await Promise.all(boxes.map((box) => box.stats({ stream: false, 'one-shot': true })));
    const used = stats.map((s) => usedBytes(s.memory_stats) / MiB).sort((a, b) => a - b);
    return {
      language,
      n,
      boxMiB: percentile(used, 50),
      boxMaxMiB: used[used.length - 1]!,
      limitMiB: Math.min(...stats.map((s) => s.memory_stats.limit)) / MiB,
      rssPerSessionMiB: (rssAfter - rssBefore) / MiB / n,
      availableMiB,
      sessionsMax: limits.sessionsMax,
      perProject: limits.perProject,
    };
  } finally {
    for (const id of ids) await kiln.send('DELETE', `/v1/sessions/${id}`);
  }
}

/** The idle figures, and the three bounds on idle sessions with the one that binds. */
export function idleLine(f: IdleFigures): string {
  const bounds = {
    KILN_SESSIONS_MAX: f.sessionsMax,
    'available memory / box memory limit': Math.floor(f.availableMiB / f.limitMiB),
    'available memory / idle box use': Math.floor(f.availableMiB / f.boxMiB),
  };
  const fit = Math.min(...Object.values(bounds));
  const binding = Object.entries(bounds)
    .filter(([, v]) => v === fit)
    .map(([k]) => k)
    .join(' and ');
  return (
    `sessions (${f.language}) idle, ${f.n} at once: a box uses p50 ${f.boxMiB.toFixed(1)} MiB (max ${f.boxMaxMiB.toFixed(1)}) of its ${f.limitMiB.toFixed(0)} MiB limit, ` +
    `kiln's RSS +${f.rssPerSessionMiB.toFixed(2)} MiB a session; idle sessions that fit (informational, no target): ` +
    `KILN_SESSIONS_MAX ${bounds.KILN_SESSIONS_MAX} (per project ${f.perProject}), ` +
    `by memory limit ${bounds['available memory / box memory limit']} (${f.availableMiB.toFixed(0)} MiB available / ${f.limitMiB.toFixed(0)} MiB), ` +
    `by idle use ${bounds['available memory / idle box use']} (${f.availableMiB.toFixed(0)} / ${f.boxMiB.toFixed(1)} MiB) ` +
    `→ ${fit}, bound by ${binding}`
  );
}
