// Offline checks of Kubernetes manifests (no cluster, no network), run by ../validate.sh:
//   node validate.mjs FILE.yaml...    exit 1 if any object fails any check
//
// 1. YAML: every document parses.
// 2. Schema: each object against the Kubernetes OpenAPI schema of its apiVersion/kind, as kubernetes-models
//    ships it compiled for ajv (types, required fields, enums, formats). An unknown kind fails.
// 3. Unknown fields: that schema allows extra properties, which the API server would drop or (with
//    --validate=strict) refuse, so a misspelt field would pass step 2. TypeScript's excess-property check
//    against kubernetes-models' type declarations catches them, at every depth.
// 4. What kiln needs from its own objects (its Deployment's probes, drain time, the PodDisruptionBudget).
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
let failures = 0;
const fail = (where, message) => {
  failures++;
  console.error(`FAIL ${where}: ${message}`);
};

// 1. parse
const objects = [];
for (const file of process.argv.slice(2)) {
  for (const [i, doc] of parseAllDocuments(readFileSync(file, 'utf8')).entries()) {
    if (doc.errors.length) {
      fail(`${file} #${i + 1}`, doc.errors.map((e) => e.message).join('; '));
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue; // an empty document
    const where = `${file} ${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
    if (typeof obj !== 'object' || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      fail(where, 'not a Kubernetes object (apiVersion and kind required)');
      continue;
    }
    objects.push({ file, where, obj });
  }
}

// 2. schema: kubernetes-models/<group>/<version>/<Kind> (the core group is just "v1")
for (const entry of objects) {
  const { apiVersion, kind } = entry.obj;
  let Model;
  try {
    Model = (await import(`kubernetes-models/${apiVersion}/${kind}`))[kind];
  } catch {}
  if (!Model) {
    fail(entry.where, `no schema for ${apiVersion} ${kind}`);
    continue;
  }
  entry.module = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    new Model(entry.obj).validate();
  } catch (error) {
    fail(entry.where, error.message);
  }
}

// 3. unknown fields: one typed constant per object, type-checked in a scratch file beside node_modules
const typed = objects.filter((o) => o.module);
if (typed.length) {
  const scratch = mkdtempSync(join(here, '.check-'));
  const file = join(scratch, 'objects.ts');
  const lines = typed.map((o, i) => `import type { I${o.obj.kind} as T${i} } from '${o.module}';`);
  const starts = []; // the line each object's constant starts on, to name the object of a diagnostic
  typed.forEach((o, i) => {
    starts.push(lines.length);
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(o.obj, null, 2)};`.split('\n'));
  });
  writeFileSync(file, lines.join('\n') + '\n');
  try {
    const program = ts.createProgram([file], {
      noEmit: true, strict: true, skipLibCheck: true, types: [],
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    });
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (d.file?.fileName !== file || d.start === undefined) {
        fail('type check', message);
        continue;
      }
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      let index = starts.length - 1;
      while (index > 0 && starts[index] > line) index--;
      fail(typed[index].where, `${message} (${d.file.text.split('\n')[line].trim()})`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// 4. kiln's own objects (each file is one variant: base, an overlay)
for (const kiln of objects.filter((o) => o.obj.kind === 'Deployment' && o.obj.metadata?.name === 'kiln')) {
  const pod = kiln.obj.spec?.template?.spec ?? {};
  const container = (pod.containers ?? []).find((c) => c.name === 'kiln');
  const probe = (name) => container?.[name]?.httpGet?.path;
  if (!container) fail(kiln.where, 'no container named kiln');
  else {
    if (probe('readinessProbe') !== '/readyz') fail(kiln.where, 'readinessProbe must GET /readyz');
    if (probe('livenessProbe') !== '/healthz') fail(kiln.where, 'livenessProbe must GET /healthz');
  }
  // kiln drains on SIGTERM: an execution may run KILN_MAX_TIMEOUT_SECONDS (300 s by default)
  if (!((pod.terminationGracePeriodSeconds ?? 30) >= 330)) fail(kiln.where, 'terminationGracePeriodSeconds must cover the drain (>= 330)');
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])])
    if (!c.resources?.limits?.memory || !c.resources?.requests?.cpu) fail(kiln.where, `container ${c.name}: resources.requests.cpu and resources.limits.memory are required`);
  const selector = JSON.stringify(kiln.obj.spec?.selector?.matchLabels);
  const pdb = objects.find((o) => o.file === kiln.file && o.obj.kind === 'PodDisruptionBudget' && JSON.stringify(o.obj.spec?.selector?.matchLabels) === selector);
  if (!pdb) fail(kiln.where, 'no PodDisruptionBudget in the same file selects its pods');
}

console.log(`${objects.length} objects checked, ${failures} failure${failures === 1 ? '' : 's'}`);
process.exit(failures ? 1 : 0);
