// Where a warm hello's time goes inside kiln, stage by stage, from its Server-Timing header, printed
// next to the floor of the same run: every later change to the path shows which stage it moved.
import type { KilnBoxFigures } from './kiln-box.js';
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

export interface StageInputs {
  /** Each call's stages (Server-Timing), per language. */
  byLanguage: Record<string, Record<string, number>[]>;
  /** What the client saw of the same calls. */
  client: Record<string, Row>;
  /** GET /healthz at the same pace. */
  http: Row;
  /** kiln's box with nothing of kiln (bench/kiln-box.ts). */
  box: Record<string, KilnBoxFigures>;
  floors: Record<string, Row>;
}

/**
 * The stage table: p50 of each stage per language over the calls given; then what the client saw,
 * HTTP's own round trip at the same pace (GET /healthz: the part of a call outside kiln's timer),
 * kiln's box without kiln (what of the box stage is the box's), and the floor (send → answer in a
 * ready box with a minimal program, nothing of kiln between) for scale.
 */
export function stagesTable({ byLanguage, client, http, box, floors }: StageInputs): string {
  const languages = Object.keys(byLanguage);
  const head = `${'stage (p50, ms)'.padEnd(12)}${languages.map((l) => l.padStart(12)).join('')}   what`;
  const lines = STAGES.map(([stage, what]) => {
    const cells = languages.map((l) => {
      const values = byLanguage[l]!.map((s) => s[stage]).filter((v): v is number => v !== undefined);
      return (values.length ? p50(values).toFixed(2) : '-').padStart(12);
    });
    return `${stage.padEnd(12)}${cells.join('')}   ${what}`;
  });
  const line = (name: string, cell: (language: string) => string, what: string) =>
    `${name.padEnd(12)}${languages.map((l) => cell(l).padStart(12)).join('')}   ${what}`;
  return [
    head,
    ...lines,
    line('client', (l) => client[l]?.p50.toFixed(2) ?? '-', 'what the client saw (node:http, kept-alive connection)'),
    line('http', () => http.p50.toFixed(2), 'GET /healthz at the same pace: HTTP and wake-ups, outside the timer'),
    line('box alone', (l) => box[l]?.exit.p50.toFixed(2) ?? '-', "kiln's box, no kiln: send → exit frame"),
    line('  taken', (l) => box[l]?.taken.p50.toFixed(2) ?? '-', 'of which send → t (the attach round trip)'),
    line('floor', (l) => floors[l]?.p50.toFixed(2) ?? '-', 'send → answer in a ready box, no kiln'),
  ].join('\n');
}
