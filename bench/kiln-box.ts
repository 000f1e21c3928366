// kiln's box without kiln: the real image, wrapper and harness, hardened as kiln starts them, sent
// a hello in kiln's own protocol (encodeRequest) with nothing of kiln's HTTP path, pool or log in
// between; timed from the send to each frame's arrival. Against the floor (the same box with a
// minimal program instead of wrapper and harness), it is what the relay and the harness cost; against
// the box stage of Server-Timing, what kiln's host side adds.
import type { Config } from '../src/config.js';
import { encodeRequest } from '../src/sandbox/box-request.js';
import { FrameDecoder } from '../src/sandbox/frame-decoder.js';
import { buildContainerSpec, sandboxLimits } from '../src/sandbox/container-spec.js';
import { createDockerClient } from '../src/sandbox/docker.js';
import { row, sleep, type Row } from './stats.js';

const INSTANCE = 'kiln-bench-box';

export interface KilnBoxFigures {
  /** send → `t` (the wrapper has the request): the attach stream's round trip, with the wrapper's read. */
  taken: Row;
  /** send → `x` (the exit frame): the whole run, as kiln's box stage sees it. */
  exit: Row;
}

export async function measureKilnBox(
  config: Config,
  hello: Record<'python' | 'javascript', { code: string; input: string }>,
  n: number,
  paceMs: number,
  ociRuntime?: string,
): Promise<Record<string, KilnBoxFigures>> {
  const docker = createDockerClient(config.KILN_DOCKER_HOST);
  const images = { python: config.KILN_PYTHON_IMAGE, javascript: config.KILN_NODE_IMAGE };
  const figures: Record<string, KilnBoxFigures> = {};
  try {
    for (const [language, { code, input }] of Object.entries(hello) as ['python' | 'javascript', { code: string; input: string }][]) {
      const spec = buildContainerSpec({
        image: images[language],
        limits: sandboxLimits(config, 128),
        instance: INSTANCE,
        boot: `box-${process.pid}`,
        caPem: '',
        labels: { 'kiln.bench': 'kiln-box' },
        ociRuntime,
      });
      const taken: number[] = [];
      const exit: number[] = [];
      for (let i = 0; i < n; i++) {
        // one box at a time, started and ready before it is timed (as the pool hands them out)
        const box = await docker.startSandbox(spec);
        await box.ready(30_000);
        await sleep(paceMs);
        const decoder = new FrameDecoder({ streamBytes: 1 << 20, resultBytes: 1 << 20 });
        let sent = 0;
        let takenAt = 0;
        const exited = new Promise<number>((resolve) => {
          void box.pipe(
            (chunk) => {
              decoder.push(chunk);
              takenAt ||= decoder.sawFrames ? performance.now() : 0;
              if (decoder.exit) resolve(performance.now());
            },
            () => {},
          );
        });
        sent = performance.now();
        box.send(encodeRequest({ mode: 'function', runtime: { language }, code, env: {}, files: [], timeoutMs: 10_000, input }));
        const exitAt = await exited;
        if (decoder.stdout.text() !== 'hello\n' || !decoder.result?.toString().startsWith('valid\n'))
          throw new Error(`kiln's ${language} box answered ${decoder.result} with stdout ${JSON.stringify(decoder.stdout.text())}`);
        taken.push(takenAt - sent);
        exit.push(exitAt - sent);
        void box.remove().catch(() => {});
      }
      figures[language] = {
        taken: row(`kiln's ${language} box, no kiln: send → taken`, taken),
        exit: row(`kiln's ${language} box, no kiln: send → exit frame`, exit),
      };
    }
  } finally {
    await docker.removeLeftovers(INSTANCE, 'none');
  }
  return figures;
}
