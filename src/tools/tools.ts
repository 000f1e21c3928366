import { AppError } from '../errors.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import { newId } from '../ids.js';
import type { Language } from '../runtimes/registry.js';
import type { SecretRef, Secrets } from '../secrets/secrets.js';
import type { CustomRuntimes } from '../runtimes/custom/runtimes.js';
import { everyItem, type Page, type Store, type Tool, type ToolRevision, type ToolSummary } from '../store/store.js';
import { compileInputSchema } from './input-schema.js';
import { checkCodeSize, checkFilesSize } from './revision-limits.js';

/** What defines a tool, as its API takes it (every field of an update is optional). */
export interface ToolFields {
  name: string;
  description?: string | null;
  language: Language;
  code: string;
  input_schema?: unknown;
  runtime_revision_id?: string | null;
  env?: EnvBinding[] | null;
  http?: { allow?: AllowBinding[] | null } | null;
  /** Set by adapters (a ConductorOne function's other files and entry point), not by /v1/tools. */
  files?: { path: string; contents: string }[];
  entry?: 'execute' | 'default';
}

/** Every secret a set of bindings refers to, with the field that refers to it. */
export function secretRefs(env: EnvBinding[], allow: AllowBinding[], prefix = ''): SecretRef[] {
  const refs: SecretRef[] = [];
  for (const [i, e] of env.entries()) if (e.secret_id) refs.push({ id: e.secret_id, field: `${prefix}env.${i}.secret_id` });
  allow.forEach((rule, i) => {
    for (const kind of ['basic', 'bearer', 'header', 'query'] as const) {
      const id = rule.auth?.[kind]?.secret_id;
      if (id) refs.push({ id, field: `${prefix}http.allow.${i}.auth.${kind}.secret_id` });
    }
  });
  return refs;
}

/**
 * Saved tools (Riza's name for a saved function): each save is a new immutable revision, and a
 * tool is its latest. A stored egress credential must be a secret, by id: a credential written
 * into a tool in clear would sit in the database in clear. Env bindings may be literal values
 * (configuration, stored and shown as given) or secrets by id.
 */
export function createTools(deps: { store: Store; secrets: Secrets; runtimes: Pick<CustomRuntimes, 'runtimeFor'> }) {
  const { store, secrets } = deps;
  const notFound = (id: string) => new AppError('NOT_FOUND', `tool ${id} not found`, [{ field: 'id', reason: 'not_found' }]);

  async function validate(project: string, f: ToolFields): Promise<void> {
    // whichever surface stores the revision, it holds no more than every other surface's would
    checkCodeSize(f.code);
    checkFilesSize(f.files ?? []);
    if (f.input_schema !== undefined && f.input_schema !== null) compileInputSchema(f.input_schema);
    // a tool may be saved while its runtime still builds; it runs once the build has succeeded
    if (f.runtime_revision_id)
      await deps.runtimes.runtimeFor(project, f.runtime_revision_id, f.language, 'runtime_revision_id', { built: false });
    const allow = f.http?.allow ?? [];
    allow.forEach((rule, i) => {
      for (const [kind, auth] of Object.entries(rule.auth ?? {}))
        if (auth && !auth.secret_id)
          throw new AppError(
            'BAD_REQUEST',
            `http.allow.${i}.auth.${kind}: a tool stores credentials only as secret_id (create the secret with POST /v1/secrets)`,
            [{ field: `http.allow.${i}.auth.${kind}.secret_id`, reason: 'secret_required' }],
          );
    });
    await secrets.check(project, secretRefs(f.env ?? [], allow));
  }

  const revisionOf = (project: string, toolId: string, f: ToolFields, id = newId('rev')): ToolRevision => ({
    id,
    toolId,
    project,
    name: f.name,
    description: f.description ?? '',
    language: f.language,
    code: f.code,
    inputSchema: f.input_schema ?? null,
    runtimeRevisionId: f.runtime_revision_id ?? null,
    env: f.env ?? [],
    http: f.http?.allow?.length ? { allow: f.http.allow } : null,
    ...(f.files?.length ? { files: f.files } : {}),
    ...(f.entry === 'default' ? { entry: 'default' as const } : {}),
    createdAt: new Date().toISOString(),
  });

  /** The revision `changes` make of the current one, validated. */
  async function nextRevision(project: string, current: Tool, changes: Partial<ToolFields>, id?: string): Promise<ToolRevision> {
    const next: ToolFields = {
      name: changes.name ?? current.name,
      description: changes.description !== undefined ? changes.description : current.description,
      language: changes.language ?? (current.language as Language),
      code: changes.code ?? current.code,
      input_schema: changes.input_schema !== undefined ? changes.input_schema : current.inputSchema,
      runtime_revision_id: changes.runtime_revision_id !== undefined ? changes.runtime_revision_id : current.runtimeRevisionId,
      env: changes.env !== undefined ? changes.env : current.env,
      http: changes.http !== undefined ? changes.http : current.http,
      files: changes.files !== undefined ? changes.files : current.files,
      entry: changes.entry ?? current.entry,
    };
    await validate(project, next);
    return revisionOf(project, current.id, next, id);
  }

  async function get(project: string, id: string): Promise<Tool> {
    const tool = await store.tools.get(project, id);
    if (!tool) throw notFound(id);
    return tool;
  }

  return {
    async create(project: string, fields: ToolFields, opts: { revisionId?: string } = {}): Promise<Tool> {
      await validate(project, fields);
      return store.tools.create(revisionOf(project, newId('tool'), fields, opts.revisionId));
    },
    /**
     * A new revision: the latest one with `changes` applied. Earlier revisions stay as they were.
     * Two updates at once both land, one on top of the other: one built on a head that has moved
     * meanwhile is applied again to the new head.
     */
    async update(project: string, id: string, changes: Partial<ToolFields>, opts: { revisionId?: string } = {}): Promise<Tool> {
      for (let attempt = 0; ; attempt++) {
        const current = await get(project, id); // a tool deleted meanwhile: 404
        const updated = await store.tools.addRevision(await nextRevision(project, current, changes, opts.revisionId), current.revisionId);
        if (updated) return updated;
        if (attempt >= 20)
          throw new AppError('BUSY', `tool ${id} is being changed by many callers at once; retry`, [{ reason: 'contended' }], 1);
      }
    },
    get,
    list: (project: string, page: Page) => store.tools.list(project, page),
    /** A page of tools without code or files: what catalogs render. */
    summaries: (project: string, page: Page) => store.tools.listSummaries(project, page),
    /** Every tool of the project as a summary (names and schemas, never code), oldest first: a catalog's. */
    async allSummaries(project: string): Promise<ToolSummary[]> {
      const all: ToolSummary[] = [];
      for await (const tool of everyItem(
        (page) => store.tools.listSummaries(project, page),
        (t) => t.id,
      ))
        all.push(tool);
      return all.reverse();
    },
    /** The project's tool of this id, else the newest one of this name (no code or files read). */
    async find(project: string, idOrName: string): Promise<ToolSummary | null> {
      const [byId] = await store.tools.summaries(project, [idOrName]);
      return byId ?? store.tools.findByName(project, idOrName);
    },
    async revisions(project: string, id: string, page: Page): Promise<ToolRevision[]> {
      const list = await store.tools.listRevisions(project, id, page);
      if (!list) throw notFound(id);
      return list;
    },
    async remove(project: string, id: string): Promise<void> {
      if (!(await store.tools.delete(project, id))) throw notFound(id);
    },
    /** The revision an execution runs: the pinned one, else the latest. */
    async revision(project: string, toolId: string, revisionId?: string | null): Promise<ToolRevision> {
      if (!revisionId) {
        const tool = await get(project, toolId);
        return { ...tool, id: tool.revisionId };
      }
      const revision = await store.tools.getRevision(project, toolId, revisionId);
      if (revision) return revision;
      await get(project, toolId); // a missing tool is a 404 before a bad revision is a 400
      throw new AppError('BAD_REQUEST', `revision_id: tool ${toolId} has no revision ${revisionId}`, [
        { field: 'revision_id', reason: 'not_found' },
      ]);
    },
  };
}

export type Tools = ReturnType<typeof createTools>;
