/**
 * Health in the console: this kiln process's own metrics over the last hour (src/metrics-history.ts)
 * as line charts drawn on the server in SVG (no chart library, no script needed to see them), each
 * summed up in words for a screen reader, and a table of the values now. The live script fetches
 * the charts again every 10 s while the page is open.
 */
import type { HealthSample } from '../../metrics-history.js';
import type { Who } from './console-kit.js';
import { Layout } from './layout.js';

type Series = { name: string; value: (s: HealthSample) => number | null };
const HOUR_MS = 3600_000;
const [W, H, PAD] = [600, 150, 44];

/** A round ceiling for the y axis (1, 2, 5 × 10^n). */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}
const fmt = (v: number | null) => (v === null ? '–' : v >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

function Chart(props: { title: string; unit: string; series: Series[]; samples: readonly HealthSample[]; now: number }) {
  const { samples, now } = props;
  const values = props.series.flatMap((s) => samples.map(s.value).filter((v): v is number => v !== null));
  const top = niceMax(Math.max(0, ...values));
  const x = (at: number) => PAD + ((at - (now - HOUR_MS)) / HOUR_MS) * (W - PAD - 4);
  const y = (v: number) => H - 18 - (v / top) * (H - 28);
  const latest = samples.at(-1);
  const words = props.series
    .map((s) => {
      const vs = samples.map(s.value).filter((v): v is number => v !== null);
      return `${s.name} now ${fmt(latest ? s.value(latest) : null)}, highest ${fmt(vs.length ? Math.max(...vs) : null)}`;
    })
    .join('; ');
  return (
    <figure class="chart">
      <figcaption>
        {props.title} <span class="note">({props.unit})</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title}, last hour: ${words}.`} class="chart">
        <line x1={PAD} y1={H - 18} x2={W - 4} y2={H - 18} class="axis" />
        <line x1={PAD} y1={10} x2={PAD} y2={H - 18} class="axis" />
        <text x={PAD - 4} y={14} text-anchor="end" class="tick">
          {fmt(top)}
        </text>
        <text x={PAD - 4} y={H - 18} text-anchor="end" class="tick">
          0
        </text>
        <text x={PAD} y={H - 4} class="tick">
          60 min ago
        </text>
        <text x={W - 4} y={H - 4} text-anchor="end" class="tick">
          now
        </text>
        {props.series.map((s, i) => (
          <polyline
            class={`s${i}`}
            fill="none"
            points={samples
              .map((p) => [p.at, s.value(p)] as const)
              .filter((p): p is readonly [number, number] => p[1] !== null && p[0] >= now - HOUR_MS)
              .map(([at, v]) => `${x(at).toFixed(1)},${y(v).toFixed(1)}`)
              .join(' ')}
          />
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s, i) => (
          <li>
            <span class={`key k${i}`} aria-hidden="true" /> {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** The charts and the table of values now: the fragment the live script fetches again. */
export function HealthCharts(props: { samples: readonly HealthSample[]; now: number }) {
  const { samples, now } = props;
  const classes = [...new Set(samples.flatMap((s) => Object.keys(s.ready)))].sort();
  const charts: { title: string; unit: string; series: Series[] }[] = [
    { title: 'Warm pool', unit: 'boxes ready, per class', series: classes.map((c) => ({ name: c, value: (s) => s.ready[c] ?? 0 })) },
    {
      title: 'Slots',
      unit: 'executions',
      series: [
        { name: 'running', value: (s) => s.running },
        { name: 'waiting (queue depth)', value: (s) => s.waiting },
      ],
    },
    { title: 'Executions', unit: 'finished per second', series: [{ name: 'per second', value: (s) => s.perSecond }] },
    {
      title: 'Latency',
      unit: 'ms, admission to answer',
      series: [
        { name: 'p50', value: (s) => s.p50 },
        { name: 'p99', value: (s) => s.p99 },
      ],
    },
    { title: 'Refused at capacity', unit: '429s per 10 s', series: [{ name: '429s', value: (s) => s.refused }] },
    { title: 'Runtime builds', unit: 'queued or running', series: [{ name: 'builds', value: (s) => s.builds }] },
  ];
  const latest = samples.at(-1);
  return (
    <>
      <p class="note">
        {samples.length} looks, one every 10 s; the last at {latest ? new Date(latest.at).toISOString().replace(/\.\d+Z$/, 'Z') : '–'}.{' '}
        <a href="/console/health">Reload</a>
      </p>
      <table>
        <caption>Now, and the highest in the last hour</caption>
        <thead>
          <tr>
            <th scope="col">Measure</th>
            <th scope="col">Now</th>
            <th scope="col">Highest</th>
          </tr>
        </thead>
        <tbody>
          {charts.flatMap((c) =>
            c.series.map((s) => {
              const vs = samples.map(s.value).filter((v): v is number => v !== null);
              return (
                <tr>
                  <th scope="row">
                    {c.title}: {s.name}
                  </th>
                  <td class="num">{fmt(latest ? s.value(latest) : null)}</td>
                  <td class="num">{fmt(vs.length ? Math.max(...vs) : null)}</td>
                </tr>
              );
            }),
          )}
        </tbody>
      </table>
      <div class="charts">
        {charts.map((c) => (
          <Chart {...c} samples={samples} now={now} />
        ))}
      </div>
    </>
  );
}

export function HealthPage(props: { who: Who; csrf: string; samples: readonly HealthSample[]; now: number }) {
  return (
    <Layout title="Health" who={props.who} csrf={props.csrf}>
      <h1>Health</h1>
      <p class="note">
        This kiln process over the last hour, every project's load together (each replica keeps its own). The charts follow while the page
        is open.
      </p>
      <div data-live="/console/health" data-every="10">
        <HealthCharts samples={props.samples} now={props.now} />
      </div>
    </Layout>
  );
}
