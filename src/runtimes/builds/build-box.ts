import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Config } from '../../config.js';
import type { EgressProxy, EgressSession } from '../../egress/proxy.js';
import { buildContainerSpec } from '../../sandbox/container-spec.js';
import type { DockerClient } from '../../sandbox/docker.js';
import { encodeRequest } from '../../sandbox/box-request.js';
import { type BoxSession, openBoxSession } from '../../sandbox/box-session.js';
import { CappedBuffer } from '../../sandbox/frame-decoder.js';
import type { RuntimeRevisionRecord } from '../../store/runtimes/records.js';
import type { PackageSources } from './package-sources.js';

const BUILD_PROGRAM = readFileSync(new URL('../../../runtimes/build/build.py', import.meta.url), 'utf8');
const MARKER = '\x1ekiln-build: installed\n';
/** The build log kept per revision: its end, where the package manager says what went wrong. */
export const LOG_TAIL_BYTES = 256 * 1024;

/** Where each language's packages go, in the build box and (the same path) in the derived image. */
export const INSTALL = {
  python: { mount: '/opt/kiln/site', target: '/opt/kiln/site', export: '/opt/kiln/site' },
  javascript: { mount: '/mnt', target: '/mnt', export: '/mnt/node_modules' },
} as const;

export type BuildBoxOutcome = { ok: true; log: string } | { ok: false; log: string; reason: string };

/** The build log: its last LOG_TAIL_BYTES, without the marker. */
function logText(log: CappedBuffer): string {
  return (log.truncated ? '[earlier output cut]\n' : '') + log.text().replace(MARKER, '');
}

/**
 * What kiln's proxy refused the build, in kiln's words: it leads a failed build's reason, since the
 * installer only says `403 Forbidden` and cannot know the setting that would allow the source.
 */
export function refusedSources(session: EgressSession): string {
  return (session.refused ?? []).map((r) => `kiln egress: ${r.toCaller(session.allowSetting ?? 'KILN_BUILD_ALLOW_ADDRESSES')}`).join('\n');
}

/** The last lines of a failed build's log: pip's or npm's own words. */
export function failureLines(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l && !l.startsWith('$ '));
  return lines.slice(-12).join('\n').slice(-2000);
}

/**
 * Runs one build in a box as locked down as a sandbox (it is one: the same spec, with more memory
 * and processes, a build image, and an exec-able tmpfs at the install path only), whose egress
 * reaches only the package sources. On success `consume` gets the installed tree as a tar while
 * the box still runs (a tmpfs dies with it); the box is removed whatever happens.
 */
export function createBuildBox(deps: {
  docker: DockerClient;
  egress: EgressProxy;
  config: Config;
  caPem: string;
  boot: string;
  sources: PackageSources;
}) {
  const { docker, config, sources } = deps;
  const imageFor = { python: config.KILN_PYTHON_BUILD_IMAGE, javascript: config.KILN_NODE_BUILD_IMAGE } as const;

  function spec(revision: RuntimeRevisionRecord) {
    const base = buildContainerSpec({
      image: imageFor[revision.language],
      instance: config.KILN_INSTANCE,
      boot: deps.boot,
      caPem: deps.caPem,
      labels: { 'kiln.build': revision.imageKey },
      limits: {
        memoryMiB: config.KILN_BUILD_MEMORY_MIB,
        cpus: config.KILN_CPUS,
        pidsLimit: Math.max(256, config.KILN_PIDS_LIMIT),
        tmpfsMiB: config.KILN_BUILD_DISK_MIB,
      },
      ociRuntime: config.KILN_OCI_RUNTIME,
      // loopback too goes to kiln's proxy: a mirror on the host's 127.0.0.1 is reached through it
      warmEnv: ['KILN_PROXY_LOOPBACK=1'],
    });
    const size = config.KILN_BUILD_DISK_MIB;
    // the one place where the build may write programs: packages' scripts and binaries run from it
    base.HostConfig!.Tmpfs![INSTALL[revision.language].mount] = `rw,exec,nosuid,nodev,size=${size}m,mode=0755,uid=10001,gid=10001`;
    return base;
  }

  return async function runBuildBox(
    revision: RuntimeRevisionRecord,
    imports: string[],
    signal: AbortSignal,
    consume: (tree: Readable) => Promise<void>,
    onLog?: (chunk: Buffer) => void,
  ): Promise<BuildBoxOutcome> {
    const log = new CappedBuffer(LOG_TAIL_BYTES, 'tail');
    const sandbox = await docker.startSandbox(spec(revision));
    const session: EgressSession = {
      executionId: `build_${revision.imageKey.slice(0, 16)}`,
      rules: sources.rules,
      policy: sources.policy,
      trust: sources.trust,
      allowSetting: 'KILN_BUILD_ALLOW_ADDRESSES',
      refused: [],
    };
    let box: BoxSession | undefined;
    try {
      await sandbox.ready(60_000);
      let recent = '';
      let installed!: () => void;
      const done = new Promise<void>((resolve) => (installed = resolve));
      let broke!: () => void;
      const broken = new Promise<void>((resolve) => (broke = resolve));
      box = openBoxSession(sandbox, {
        limits: { streamBytes: LOG_TAIL_BYTES, resultBytes: 4096 },
        egress: { proxy: deps.egress, session, maxConnections: config.KILN_EGRESS_MAX_CONNECTIONS },
        // the log takes stdout, stderr and the wrapper's own words alike
        onOutput: (kind, data) => {
          log.append(data);
          // followers (the console) see it as it comes; the marker is kiln's, not the log's
          onLog?.(data.includes(MARKER) ? Buffer.from(data.toString('latin1').replace(MARKER, ''), 'latin1') : data);
          if (kind !== 'o') return;
          recent = (recent + data.toString('latin1')).slice(-64);
          if (recent.includes(MARKER)) installed();
        },
        onViolation: () => broke(),
      });
      const { decoder } = box;
      const ended = Promise.race([box.exited, box.ended, broken]);
      const aborted = new Promise<void>((resolve) =>
        signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      const build = {
        language: revision.language,
        target: INSTALL[revision.language].target,
        imports,
        pip_args: sources.pipArgs,
        registry: sources.npmRegistry,
        // pip reads its CA from here (not SSL_CERT_FILE): kiln's proxy presents certificates of kiln's CA
        env: { PIP_CERT: '/tmp/kiln-egress-ca.pem', PIP_CONFIG_FILE: '/dev/null' },
      };
      // the build program is Python in both build images, run as a script by the Python harness
      box.send(
        encodeRequest({
          mode: 'script',
          runtime: { language: 'python' },
          code: BUILD_PROGRAM,
          env: { KILN_BUILD: JSON.stringify(build) },
          files: [{ path: revision.manifestName, contents: revision.manifestContents }],
          timeoutMs: config.KILN_BUILD_TIMEOUT_SECONDS * 1000,
          args: [],
          stdin: '',
        }),
      );
      const first = await Promise.race([
        done.then(() => 'installed' as const),
        ended.then(() => 'ended' as const),
        aborted.then(() => 'aborted' as const),
      ]);
      if (first === 'aborted') return { ok: false, log: logText(log), reason: String(signal.reason ?? 'the build was stopped') };
      if (first === 'ended') {
        const text = logText(log);
        const lines = failureLines(text);
        // the package manager says why it exited; when the box itself was ended, or kiln's proxy
        // refused a source's address, kiln says so first
        const why = decoder.exit?.oom
          ? `the build ran out of memory (KILN_BUILD_MEMORY_MIB is ${config.KILN_BUILD_MEMORY_MIB})`
          : decoder.exit && lines
            ? null
            : decoder.exit
              ? `the build exited with status ${decoder.exit.exit_code}`
              : 'the build box ended abnormally';
        return { ok: false, log: text, reason: [refusedSources(session), why, lines].filter(Boolean).join('\n') };
      }
      box.closeTunnel();
      // the time cap holds here too: removing the box (below) ends the tar, and with it the image build
      const copied = sandbox
        .exportTar(INSTALL[revision.language].export)
        .then(consume)
        .then(() => 'copied' as const);
      if ((await Promise.race([copied, aborted.then(() => 'aborted' as const)])) === 'aborted') {
        copied.catch(() => {});
        return { ok: false, log: logText(log), reason: String(signal.reason ?? 'the build was stopped') };
      }
      return { ok: true, log: logText(log) };
    } finally {
      box?.close();
      await sandbox.remove().catch(() => {});
    }
  };
}

export type RunBuildBox = ReturnType<typeof createBuildBox>;
