// Custom runtimes (issue 10): what a build costs, and what running on a revision costs against the
// stock image, measured in the same run. Package sources are local (as an air-gapped mirror would
// be): a PEP 503 index with a small wheel and an npm registry with a small package.
//   - build, cold: POST /v1/runtimes until `succeeded` (a fresh image key: the sources' port is new each run)
//   - build, deduplicated: the same content again, until `succeeded` (no build: an equal one succeeded)
//   - first use: the first run on the revision (its pool is made then, so this run waits for a box)
//   - warm: the revision's pooled boxes against the stock image's, interleaved at the same pace
import Docker from 'dockerode';
import { startNpmRegistry, startPythonIndex, type PackageSource } from '../test/helpers/package-sources.js';
import { row, sleep, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };
type Call = (body: object, path?: string) => Promise<number>;

export interface CustomRuntimeFigures {
  language: string;
  coldMs: number;
  dedupMs: number;
  firstMs: number;
  warm: Row;
  stock: Row;
}

export async function startPackageSources(): Promise<{ sources: PackageSource[]; env: Record<string, string> }> {
  const py = await startPythonIndex([{ name: 'kilnpkg', version: '1.0.0', files: { 'kilnpkg/__init__.py': 'VALUE = 42\n' } }]);
  const npm = await startNpmRegistry([
    {
      name: 'kiln-left-pad',
      version: '1.0.0',
      files: { 'index.js': 'module.exports = (s, n) => String(s).padStart(n);\n' },
      packageJson: { main: 'index.js' },
    },
  ]);
  return { sources: [py, npm], env: { KILN_PIP_INDEX_URL: py.url, KILN_NPM_REGISTRY: npm.url } };
}

const MANIFESTS: Record<string, object> = {
  python: {
    language: 'python',
    manifest_file: { name: 'requirements.txt', contents: 'kilnpkg==1.0.0\n' },
    additional_python_imports: 'kilnpkg',
  },
  javascript: { language: 'javascript', manifest_file: { name: 'package.json', contents: '{"dependencies":{"kiln-left-pad":"1.0.0"}}' } },
};

/** Creates a runtime and waits for its build to end; answers its revision id and the time taken. */
async function createAndWait(url: (p: string) => string, key: string, body: object): Promise<{ revisionId: string; ms: number }> {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const started = performance.now();
  let rt = (await (
    await fetch(url('/v1/runtimes'), { method: 'POST', headers, body: JSON.stringify({ name: 'bench', ...body }) })
  ).json()) as { id: string; revision_id: string; status: string; failure_reason?: string };
  while (rt.status === 'pending' || rt.status === 'building') {
    await sleep(25);
    rt = (await (await fetch(url(`/v1/runtimes/${rt.id}`), { headers })).json()) as typeof rt;
  }
  if (rt.status !== 'succeeded') throw new Error(`runtime build ${rt.status}: ${rt.failure_reason}`);
  return { revisionId: rt.revision_id, ms: performance.now() - started };
}

export async function measureCustomRuntimes(opts: {
  url: (p: string) => string;
  key: string;
  call: Call;
  hello: Record<string, Hello>;
  n: number;
  paceMs: number;
}): Promise<CustomRuntimeFigures[]> {
  const figures: CustomRuntimeFigures[] = [];
  for (const [language, hello] of Object.entries(opts.hello)) {
    const cold = await createAndWait(opts.url, opts.key, MANIFESTS[language]!);
    const dedup = await createAndWait(opts.url, opts.key, MANIFESTS[language]!);
    const onRevision = { ...hello, runtime_revision_id: cold.revisionId };
    let t = performance.now();
    if ((await opts.call(onRevision)) !== 200) throw new Error(`first run on the ${language} revision failed`);
    const firstMs = performance.now() - t;
    await sleep(1000); // the revision's pool fills
    const latencies = { revision: [] as number[], stock: [] as number[] };
    for (let i = 0; i < 2 * opts.n; i++) {
      const which = (i % 2 === 0) === (Math.floor(i / 2) % 2 === 0) ? 'revision' : 'stock';
      t = performance.now();
      const status = await opts.call(which === 'revision' ? onRevision : hello);
      const took = performance.now() - t;
      if (status !== 200) throw new Error(`${which} (${language}) answered ${status}`);
      latencies[which].push(took);
      await sleep(Math.max(0, opts.paceMs - took));
    }
    figures.push({
      language,
      coldMs: cold.ms,
      dedupMs: dedup.ms,
      firstMs,
      warm: row(`kiln ${language} hello on a runtime revision, 1 per ${opts.paceMs} ms`, latencies.revision),
      stock: row(`kiln ${language} hello, stock, interleaved`, latencies.stock),
    });
  }
  return figures;
}

export function customRuntimeLine(f: CustomRuntimeFigures): string {
  return `custom runtime (${f.language}): build ${f.coldMs.toFixed(0)} ms cold, ${f.dedupMs.toFixed(0)} ms deduplicated; first run on the revision ${f.firstMs.toFixed(1)} ms; warm p50 ${f.warm.p50.toFixed(1)} ms = ${(f.warm.p50 / f.stock.p50).toFixed(2)}x the stock image's ${f.stock.p50.toFixed(1)} ms (target <= 1.2x)`;
}

/** The bench's runtime images go with it (the sweep would keep them: its store still names them). */
export async function removeRuntimeImages(instance: string): Promise<void> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  for (const image of await docker.listImages({ filters: { label: [`kiln.instance=${instance}`] } }))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
}
