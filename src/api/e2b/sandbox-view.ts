/**
 * An E2B sandbox is a kiln session: its id is the session's, its template the runtime it runs (a
 * stock language, or a custom runtime by id or name), its metadata a label kept with it. This file
 * says how one is shown (E2B's Sandbox / SandboxDetail / ListedSandbox), how a template names a
 * runtime, and what access token its in-sandbox calls carry.
 */
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Language } from '../../runtimes/registry.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { SessionRecord } from '../../store/sessions/records.js';

/**
 * The envd version kiln says it speaks: the SDKs gate features on it (2.51: 0.6.4 enables them
 * all), and kiln answers each of those calls (or says, in E2B's error shape, which it does not).
 */
export const ENVD_VERSION = '0.6.4';

/** E2B's template names (its SDKs' defaults among them) for kiln's stock runtimes. */
const STOCK: Record<string, Language> = {
  base: 'python',
  'code-interpreter-v1': 'python',
  'code-interpreter': 'python',
  python: 'python',
  'code-interpreter-javascript': 'javascript',
  javascript: 'javascript',
  node: 'javascript',
  nodejs: 'javascript',
  typescript: 'typescript',
};

/** What a template runs: a stock language, or a custom runtime's newest revision (by its id or its name). */
export async function runtimeOfTemplate(
  runtimes: CustomRuntimes,
  project: string,
  template: string,
): Promise<{ language: Language; runtimeRevisionId: string | null }> {
  const stock = STOCK[template.toLowerCase()];
  if (stock) return { language: stock, runtimeRevisionId: null };
  let found = template.startsWith('rt_') ? await runtimes.get(project, template).catch(() => null) : null;
  for (let page: string | undefined, n = 0; !found && n < 20; n++) {
    const rows = await runtimes.list(project, { limit: 100, ...(page ? { startingAfter: page } : {}) });
    found = rows.find((r) => r.name === template) ? await runtimes.get(project, rows.find((r) => r.name === template)!.id) : null;
    if (rows.length < 100) break;
    page = rows.at(-1)!.id;
  }
  if (!found)
    throw new AppError(
      'NOT_FOUND',
      `template ${template} not found: kiln runs ${Object.keys(STOCK).join(', ')}, or a custom runtime of this project by id or name (POST /v1/runtimes builds one)`,
      [{ field: 'templateID', reason: 'not_found' }],
    );
  return { language: found.language === 'python' ? 'python' : 'javascript', runtimeRevisionId: found.head.id };
}

/** What the session's labels say of it as an E2B sandbox. */
function labels(record: SessionRecord): { template: string; metadata: Record<string, string> } {
  const l = ((record.settings ?? {}) as { labels?: Record<string, string> }).labels ?? {};
  let metadata: Record<string, string> = {};
  try {
    metadata = l.e2b_metadata ? (JSON.parse(l.e2b_metadata) as Record<string, string>) : {};
  } catch {
    metadata = {};
  }
  return { template: l.e2b_template ?? record.runtimeRevisionId ?? record.language, metadata };
}

/** The labels an E2B create keeps with the session. */
export const labelsOf = (template: string, metadata: Record<string, string>) => ({
  e2b_template: template,
  e2b_metadata: JSON.stringify(metadata),
});

export function metadataOf(record: SessionRecord): Record<string, string> {
  return labels(record).metadata;
}

/** The token a sandbox's in-sandbox calls carry (X-Access-Token): derived, so any replica knows it. */
export const accessToken = (box: SecretBox, project: string, id: string) => box.mac('e2b envd access token', `${project}\n${id}`);
/** The token its code interpreter's context calls carry (E2B-Traffic-Access-Token), another of the same kind. */
export const trafficToken = (box: SecretBox, project: string, id: string) => box.mac('e2b traffic access token', `${project}\n${id}`);

/** A sandbox as E2B's API shows it (SandboxDetail; a ListedSandbox is the same less what list leaves out). */
export function sandboxView(record: SessionRecord, config: Pick<Config, 'KILN_CPUS' | 'KILN_TMPFS_MIB'>) {
  const { template, metadata } = labels(record);
  return {
    sandboxID: record.id,
    templateID: template,
    alias: template,
    clientID: 'kiln',
    envdVersion: ENVD_VERSION,
    startedAt: record.createdAt,
    // kiln's idle deadline: activity moves it (never past the session's lifetime)
    endAt: record.status === 'paused' ? record.endsAt : record.expiresAt,
    state: record.status === 'paused' ? 'paused' : 'running',
    cpuCount: Math.max(1, Math.ceil(config.KILN_CPUS)),
    memoryMB: record.memoryMiB,
    diskSizeMB: config.KILN_TMPFS_MIB,
    metadata,
    volumeMounts: [],
  };
}
