// Where a warm hello's time goes inside kiln, stage by stage, from its Server-Timing header, printed
// next to the floor of the same run: every later change to the path shows which stage it moved.
import { percentile, type Row } from './stats.js';

/** kiln's stages in the order a request meets them (src/timings.ts), and `app`, their whole. */
const STAGES = [
  ['parse', 'HTTP body, auth, validation'],
  ['resolve', 'runtime, limits, tool, schema, secrets'],
  ['admit', 'admission (the concurrency bound)'],
  ['encode', 'the request line'],
  ['acquire', 'a warm box from the pool'],
  ['box', 'write → in-box (relay, harness, code) → exit frame'],
  ['decode', 'the answer from the frames'],
  ['release', 'the box given back'],
  ['log', 'the executions log'],
  ['render', 'the HTTP answer'],
  ['app', "kiln's own time, all stages"],
] as const;

const p50 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/**
 * The stage table: p50 of each stage per language over the calls given, with the floor (send →
 * answer in a ready box, nothing of kiln between) as the last line for scale.
 */
export function stagesTable(byLanguage: Record<string, Record<string, number>[]>, floors: Record<string, Row>): string {
  const languages = Object.keys(byLanguage);
  const head = `${'stage (p50, ms)'.padEnd(12)}${languages.map((l) => l.padStart(12)).join('')}   what`;
  const lines = STAGES.map(([stage, what]) => {
    const cells = languages.map((l) => {
      const values = byLanguage[l]!.map((s) => s[stage]).filter((v): v is number => v !== undefined);
      return (values.length ? p50(values).toFixed(2) : '-').padStart(12);
    });
    return `${stage.padEnd(12)}${cells.join('')}   ${what}`;
  });
  const floor = `${'floor'.padEnd(12)}${languages.map((l) => (floors[l]?.p50.toFixed(2) ?? '-').padStart(12)).join('')}   send → answer in a ready box, no kiln`;
  return [head, ...lines, floor].join('\n');
}
