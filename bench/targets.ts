// Issue 22's targets for the warm path, each with its figure from this run and whether it is met:
// printed last, so a change to the path shows at a glance what it moved.
import type { CustomRuntimeFigures } from './custom-runtime.js';
import type { RuntimeFigures } from './runtime-compare.js';
import type { Row } from './stats.js';

export interface TargetInputs {
  runtime: string;
  /** Client p50 at half the churn rate, kiln's own time (Server-Timing), and the floor, per language. */
  warm: Record<string, Row>;
  server: Record<string, Row>;
  floor: Record<string, Row>;
  saturation: Row;
  churnPerSecond: number;
  overload: { acceptedP99: number; bound: number };
  customRuntimes: CustomRuntimeFigures[];
  egressMs: number;
  /** Under another runtime than runc: the runc kiln of the same run. */
  runc?: RuntimeFigures;
}

interface Target {
  what: string;
  figure: string;
  met: boolean;
}

const x = (v: number) => `${v.toFixed(2)}×`;

/** One line per target: `met` or `NOT MET`, the target, and this run's figure. */
export function targetsTable(t: TargetInputs): string {
  const targets: Target[] = [];
  // the floor targets are runc's; under another runtime its own floor bounds kiln's time (below)
  for (const language of t.runc ? [] : Object.keys(t.warm)) {
    const floor = t.floor[language]!.p50;
    const own = t.server[language]!.p50 / floor;
    const client = t.warm[language]!.p50 / floor;
    targets.push({ what: `${language}: kiln's own time ≤ 1.5× the floor`, figure: x(own), met: own <= 1.5 });
    targets.push({ what: `${language}: client warm p50 ≤ 2.5× the floor`, figure: x(client), met: client <= 2.5 });
  }
  const saturation = t.saturation.perSecond! / t.churnPerSecond;
  targets.push({ what: "saturation ≥ 1.1× the engine's churn", figure: x(saturation), met: saturation >= 1.1 });
  targets.push({
    what: '2x overload: accepted p99 within the bound',
    figure: `${t.overload.acceptedP99.toFixed(0)} / ${t.overload.bound.toFixed(0)} ms`,
    met: t.overload.acceptedP99 <= t.overload.bound,
  });
  for (const f of t.customRuntimes) {
    const ratio = f.warm.p50 / f.stock.p50;
    targets.push({ what: `${f.language}: a custom runtime ≤ 1.2× stock`, figure: x(ratio), met: ratio <= 1.2 });
  }
  if (t.runc) {
    for (const language of Object.keys(t.runc.warm)) {
      const ratio = t.warm[language]!.p50 / t.runc.warm[language]!.p50;
      targets.push({ what: `${language}: ${t.runtime} warm p50 ≤ 1.5× runc's`, figure: x(ratio), met: ratio <= 1.5 });
      const own = t.server[language]!.p50 / t.floor[language]!.p50;
      targets.push({ what: `${language}: kiln's own time under ${t.runtime} ≤ 2× its floor`, figure: x(own), met: own <= 2 });
    }
    targets.push({
      what: `egress under ${t.runtime} ≤ 5 ms per HTTPS request`,
      figure: `+${t.egressMs.toFixed(1)} ms`,
      met: t.egressMs <= 5,
    });
  }
  const width = Math.max(...targets.map((target) => target.what.length));
  return targets
    .map((target) => `${(target.met ? 'met' : 'NOT MET').padEnd(8)}${target.what.padEnd(width + 2)}${target.figure}`)
    .join('\n');
}
