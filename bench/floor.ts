// The floor: what a hello costs in a box that is already running and as hardened as kiln's, with
// nothing of kiln in between: no HTTP, no wrapper, no frames, no pool. Each box runs a minimal
// in-box program instead of kiln's wrapper and harness: it says it is ready, reads one JSON line
// {code, input}, defines execute from the code, calls it with its print/console.log captured, and
// writes one JSON line with the result. Only send → answer line over the attach stream is timed,
// with no other load on the engine (it runs before kiln starts).
// kiln's warm latency over this floor is what kiln's own machinery costs.
import type { Config } from '../src/config.js';
import { buildContainerSpec, sandboxLimits } from '../src/sandbox/container-spec.js';
import { createDockerClient, type DockerClient, type SandboxHandle } from '../src/sandbox/docker.js';
import { row, sleep, type Row } from './stats.js';

/** Labelled as kiln labels its boxes (kiln.managed=true, kiln.instance=…), so a sweep finds every one. */
const INSTANCE = 'kiln-bench-floor';
const BOOT = `floor-${process.pid}`;

// Python as kiln's wrapper starts it (-I -S: isolated, no site); json is imported before "ready",
// as kiln's harness imports what it needs while it waits.
const PYTHON = `
import io, json, sys
out = sys.stdout
out.write("ready\\n"); out.flush()
req = json.loads(sys.stdin.readline())
ns = {}
sys.stdout = captured = io.StringIO()
exec(req["code"], ns)
result = ns["execute"](req["input"])
sys.stdout = out
out.write(json.dumps({"output": result, "stdout": captured.getvalue()}) + "\\n"); out.flush()
`;
const NODE = `
process.stdout.write('ready\\n');
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', async (chunk) => {
  buffered += chunk;
  const end = buffered.indexOf('\\n');
  if (end < 0) return;
  process.stdin.destroy();
  const { code, input } = JSON.parse(buffered.slice(0, end));
  let stdout = '';
  const log = console.log;
  console.log = (...args) => { stdout += args.join(' ') + '\\n'; };
  const execute = new Function(code + '\\nreturn execute;')();
  const output = await execute(input);
  console.log = log;
  process.stdout.write(JSON.stringify({ output, stdout }) + '\\n');
});
`;

interface Box {
  handle: SandboxHandle;
  nextLine(timeoutMs: number): Promise<{ text: string; at: number }>;
}

/** Starts a box and collects its stdout lines, each stamped with the moment its newline arrived. */
async function startBox(docker: DockerClient, spec: Parameters<DockerClient['startSandbox']>[0]): Promise<Box> {
  const handle = await docker.startSandbox(spec);
  const lines: { text: string; at: number }[] = [];
  let partial = '';
  let stderr = '';
  let ended = false;
  let wake = () => {};
  void handle
    .pipe(
      (chunk) => {
        partial += chunk.toString('utf8');
        for (let i; (i = partial.indexOf('\n')) >= 0; partial = partial.slice(i + 1))
          lines.push({ text: partial.slice(0, i), at: performance.now() });
        wake();
      },
      (chunk) => void (stderr += chunk.toString('utf8')),
    )
    .then(() => ((ended = true), wake()));
  return {
    handle,
    nextLine: async (timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      while (!lines.length) {
        if (ended) throw new Error(`floor box ended without answering: ${stderr.slice(-500)}`);
        if (performance.now() > deadline) throw new Error(`floor box did not answer within ${timeoutMs} ms: ${stderr.slice(-500)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - performance.now());
          wake = () => (clearTimeout(timer), resolve());
        });
      }
      return lines.shift()!;
    },
  };
}

/** Runs `fn` over `items` with at most `concurrency` at once, in order of the items. */
async function eachLimited<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i; (i = next++) < items.length; ) results[i] = await fn(items[i]!);
    }),
  );
  return results;
}

export async function measureFloor(
  config: Config,
  hello: Record<'python' | 'javascript', { code: string; input: string }>,
  n: number,
  paceMs: number,
  /** The OCI runtime of the boxes (`runsc` under `--runtime runsc`); Docker's default when absent. */
  ociRuntime?: string,
): Promise<Record<string, Row>> {
  const docker = createDockerClient(config.KILN_DOCKER_HOST);
  const programs = {
    python: { image: config.KILN_PYTHON_IMAGE, argv: ['python3', '-I', '-S', '-c', PYTHON] },
    javascript: { image: config.KILN_NODE_IMAGE, argv: ['node', '-e', NODE] },
  };
  const floors: Record<string, Row> = {};
  await docker.removeLeftovers(INSTANCE, BOOT); // what a crashed earlier run left
  try {
    for (const [language, { image, argv }] of Object.entries(programs) as [keyof typeof programs, (typeof programs)['python']][]) {
      // kiln's hardening and limits, unchanged; only what runs inside is replaced.
      const spec = {
        ...buildContainerSpec({
          image,
          limits: sandboxLimits(config, 128),
          instance: INSTANCE,
          boot: BOOT,
          caPem: '',
          labels: { 'kiln.bench': 'floor' },
          ociRuntime,
        }),
        Entrypoint: argv,
        Cmd: [],
      };
      // All of a language's boxes are started and ready before the first is timed: no container is
      // created while one is measured, so the engine's work on starts stays out of the figure.
      const boxes = await eachLimited(Array.from({ length: n }), 2, async () => {
        const box = await startBox(docker, spec);
        const ready = await box.nextLine(30_000);
        if (ready.text !== 'ready') throw new Error(`floor box said ${JSON.stringify(ready.text)} instead of ready`);
        return box;
      });
      const request = `${JSON.stringify({ code: hello[language].code, input: hello[language].input })}\n`;
      const latencies: number[] = [];
      const removals: Promise<void>[] = [];
      try {
        // One box per measurement, as kiln's boxes are one-use, and at the pace of kiln's paced rows:
        // a box ends once it has answered, and the engine's work on that exit and on its removal
        // (in the background, right after the answer) then falls in the gap. Back to back, it fell
        // on the next measurement instead (on 2 cores the p50 went from ~1 ms to ~10 ms).
        for (const box of boxes) {
          const sent = performance.now();
          box.handle.send(request);
          const answer = await box.nextLine(10_000);
          latencies.push(answer.at - sent);
          removals.push(box.handle.remove().catch(() => {}));
          const parsed = JSON.parse(answer.text) as { output?: { hello?: string }; stdout?: string };
          if (parsed.output?.hello !== 'world' || parsed.stdout !== 'hello\n') throw new Error(`floor box answered ${answer.text}`);
          await sleep(Math.max(0, paceMs - (performance.now() - sent)));
        }
      } finally {
        // and the boxes not reached after a failure; the sweep below catches any removal that fails
        await Promise.all(removals);
        await eachLimited(boxes.slice(removals.length), 4, (box) => box.handle.remove().catch(() => {}));
      }
      floors[language] = row(`floor ${language}: send → answer in a ready box`, latencies);
    }
  } finally {
    // Everything labelled kiln.managed=true, kiln.instance=kiln-bench-floor is ours: the sweep
    // removes all of it (any boot but one that never exists), so no box outlives the bench.
    await docker.removeLeftovers(INSTANCE, 'none');
  }
  return floors;
}

export function floorLine(language: string, kiln: Row, floor: Row, server: Row): string {
  return (
    `${language} floor: kiln warm p50 ${kiln.p50.toFixed(1)} ms = ${(kiln.p50 / floor.p50).toFixed(2)}× the floor (${floor.p50.toFixed(1)} ms) (target ≤ 1.5×); ` +
    `kiln's own time (Server-Timing, without HTTP and the client) p50 ${server.p50.toFixed(1)} ms = ${(server.p50 / floor.p50).toFixed(2)}× the floor`
  );
}
