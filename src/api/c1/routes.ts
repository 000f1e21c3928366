import { keyOfRequest } from '../../access/scopes.js';
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { z } from 'zod';
import type { C1Functions } from '../../c1/functions.js';
import { FUNCTION_TYPES } from '../../c1/functions.js';
import { AppError, fieldError } from '../../errors.js';
import { checkInputDepth } from '../../tools/input-depth.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { C1InvocationReads } from '../../c1/invocation-reads.js';
import { createRouter, executionContext, readJson, type AppEnv } from '../context.js';
import { commitBody, filesBody, functionBody, invocationBody } from './render.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

/** protojson `bytes`: standard or URL-safe base64, padding optional. */
function decodeBase64(value: string, field: string): Buffer {
  if (!BASE64.test(value)) throw fieldError(field, 'invalid_base64', 'must be base64');
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
function decodeText(value: string, field: string): string {
  try {
    return utf8.decode(decodeBase64(value, field));
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw fieldError(field, 'not_utf8', 'must be base64 of UTF-8 text (a function is TypeScript source)');
  }
}

/** The body as JSON, checked by `schema`. */
const body = async <T extends z.ZodType>(c: Context<AppEnv>, schema: T): Promise<z.output<T>> => schema.parse(await readJson(c));

const Files = z.record(z.string(), z.string());
const CreateFunction = z.object({
  displayName: z.string().min(1).max(200),
  description: z.string().max(4000).default(''),
  functionType: z.enum(FUNCTION_TYPES).default('FUNCTION_TYPE_ANY'),
  commitMessage: z.string().max(4000).default(''),
  initialContent: Files,
});
const UpdateFunction = z.object({
  function: z.object({
    id: z.string().min(1),
    displayName: z.string().max(200).optional(),
    description: z.string().max(4000).optional(),
    publishedCommitId: z.string().optional(),
  }),
  // protojson FieldMask: "a,b" (paths camelCase or snake_case); {paths: [...]} is taken too
  updateMask: z.union([z.string(), z.object({ paths: z.array(z.string()) })]).optional(),
});
const Commit = z.object({
  commitMessage: z.string().max(4000).default(''),
  filenames: z.array(z.string()).optional(),
  content: Files.optional(),
});
const Invoke = z.object({ commitId: z.string().optional(), json: z.string().optional(), vfsId: z.string().optional() });
const Search = z.object({ pageSize: z.number().int().min(0).max(1000).optional(), pageToken: z.string().optional() });

/** The list's page size from the query (`page_size`, or protojson's `pageSize`), held to what the search form takes. */
function pageSizeQuery(c: Context<AppEnv>): number {
  const field = c.req.query('page_size') !== undefined ? 'page_size' : 'pageSize';
  const raw = c.req.query(field);
  if (raw === undefined) return 50;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) > 1000) throw fieldError(field, 'invalid', 'must be a whole number from 0 to 1000');
  return Number(raw);
}

const camel = (path: string) => path.trim().replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
const MASKABLE = ['displayName', 'description', 'publishedCommitId'];

/**
 * ConductorOne's Functions API under /api/v1/functions, on C1's wire (see ./render.ts), over the
 * functions service; errors in the gRPC-gateway shape `{code, message, details}` kiln uses everywhere.
 */
export function c1Routes(deps: {
  functions: C1Functions;
  reads: C1InvocationReads;
  box: SecretBox;
  maxBodyBytes: number;
  publicUrl?: string;
}) {
  const { functions: fns } = deps;
  const app = createRouter();
  const base = '/api/v1/functions';
  const uploadToken = (project: string, commitId: string, filename: string) =>
    deps.box.mac('c1-upload', `${project}\n${commitId}\n${filename}`);

  app.post(base, async (c) => {
    const f = await body(c, CreateFunction);
    const files = Object.fromEntries(Object.entries(f.initialContent).map(([name, v]) => [name, decodeText(v, `initialContent.${name}`)]));
    const { fn, tool } = await fns.create(c.get('project'), { ...f, files });
    return c.json({
      function: functionBody(fn, tool),
      commit: commitBody(tool.id, { id: tool.revisionId, createdAt: tool.createdAt }, f.commitMessage),
    });
  });
  app.get(base, async (c) => c.json({ list: (await fns.list(c.get('project'))).map(({ fn, tool }) => functionBody(fn, tool)) }));
  app.post(`${base}/update`, async (c) => {
    const u = await body(c, UpdateFunction);
    const raw = typeof u.updateMask === 'string' ? u.updateMask.split(',') : (u.updateMask?.paths ?? []);
    let mask = raw.map(camel).filter(Boolean);
    // no mask: every field the request set, as protobuf's convention has it
    if (mask.length === 0) mask = MASKABLE.filter((k) => (u.function as Record<string, unknown>)[k] !== undefined);
    const unknown = mask.find((m) => !MASKABLE.includes(m));
    if (unknown) throw fieldError('updateMask', 'unsupported', `kiln updates ${MASKABLE.join(', ')}; not ${unknown}`);
    const { fn, tool } = await fns.update(c.get('project'), u.function.id, u.function, mask);
    return c.json({ function: functionBody(fn, tool) });
  });
  app.get(`${base}/:id`, async (c) => {
    const { fn, tool } = await fns.get(c.get('project'), c.req.param('id'));
    return c.json({ function: functionBody(fn, tool) });
  });
  app.delete(`${base}/:id`, async (c) => {
    await fns.remove(c.get('project'), c.req.param('id'));
    return c.json({});
  });

  app.post(`${base}/:function_id/commits`, async (c) => {
    const project = c.get('project');
    const id = c.req.param('function_id');
    const req = await body(c, Commit);
    if (req.content) {
      const files = Object.fromEntries(Object.entries(req.content).map(([name, v]) => [name, decodeText(v, `content.${name}`)]));
      const rev = await fns.commitNow(project, id, req.commitMessage, files);
      return c.json({ commit: commitBody(id, rev, req.commitMessage) });
    }
    if (!req.filenames)
      throw fieldError('filenames', 'required', 'name the files of the commit (then PUT each to its upload URL and finalize)');
    const commitId = await fns.startCommit(project, id, req.commitMessage, req.filenames);
    const origin = deps.publicUrl ?? new URL(c.req.url).origin;
    const uploadUrls = Object.fromEntries(
      req.filenames.map((name) => [
        name,
        `${origin}/api/c1-uploads/${encodeURIComponent(project)}/${commitId}/${encodeURIComponent(name)}?token=${uploadToken(project, commitId, name)}`,
      ]),
    );
    return c.json({ commitId, uploadUrls });
  });
  app.get(`${base}/:function_id/commits`, async (c) => {
    const project = c.get('project');
    const id = c.req.param('function_id');
    const commits = await fns.commits(project, id);
    return c.json({ list: await Promise.all(commits.map(async (r) => commitBody(id, r, await fns.message(project, id, r.id)))) });
  });
  app.get(`${base}/:function_id/commits/:id`, async (c) => {
    const project = c.get('project');
    const id = c.req.param('function_id');
    const { tool } = await fns.get(project, id, 'function_id');
    const commitId = c.req.param('id') === 'HEAD' ? tool.revisionId : c.req.param('id');
    const rev = await fns.revision(project, id, commitId, 'id');
    return c.json({ commit: commitBody(id, rev, await fns.message(project, id, rev.id)), files: filesBody(fns.filesOf(rev)) });
  });
  app.post(`${base}/:function_id/commits/:commit_id/finalize`, async (c) => {
    const project = c.get('project');
    const id = c.req.param('function_id');
    const rev = await fns.finalize(project, id, c.req.param('commit_id'));
    return c.json({ commit: commitBody(id, rev, await fns.message(project, id, rev.id)) });
  });

  app.post(`${base}/:function_id/invoke`, async (c) => {
    const req = await body(c, Invoke);
    if (req.vfsId) throw fieldError('vfsId', 'unsupported', 'kiln has no VFS volumes; pass what the function needs in its input');
    let input: unknown = {};
    if (req.json !== undefined && req.json !== '') {
      try {
        input = JSON.parse(decodeText(req.json, 'json'));
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw fieldError('json', 'not_json', 'must be base64 of a JSON object');
      }
    }
    // before anything stringifies it: sealing the invocation overflowed the stack at 5,000 levels
    checkInputDepth(input, 'json');
    if (input === null || typeof input !== 'object' || Array.isArray(input))
      throw fieldError('json', 'not_an_object', 'must be base64 of a JSON object (a function takes a JSONObject)');
    const invocationId = await fns.invoke(c.get('project'), c.req.param('function_id'), req.commitId, input as Record<string, unknown>, {
      bytes: executionContext(c, deps.maxBodyBytes).bytes,
      key: keyOfRequest(c.get('principal')),
    });
    return c.json({ invocationId });
  });
  const invocationPage = async (c: Context<AppEnv>, pageSize: number, pageToken?: string) => {
    const project = c.get('project');
    const id = c.req.param('function_id')!;
    await fns.get(project, id, 'function_id');
    const size = Math.min(100, pageSize || 50);
    const page = await deps.reads.page(project, id, { limit: size, startingAfter: pageToken || undefined });
    const list = page.map(invocationBody);
    return c.json({ list, ...(page.length === size ? { nextPageToken: page.at(-1)!.c1.id } : {}) });
  };
  app.get(`${base}/:function_id/invocations`, (c) =>
    invocationPage(c, pageSizeQuery(c), c.req.query('page_token') ?? c.req.query('pageToken')),
  );
  app.post(`${base}/:function_id/invocations/search`, async (c) => {
    const req = await body(c, Search);
    return invocationPage(c, req.pageSize ?? 50, req.pageToken);
  });
  app.get(`${base}/:function_id/invocations/:id`, async (c) => {
    const project = c.get('project');
    const fid = c.req.param('function_id');
    const id = c.req.param('id');
    await fns.get(project, fid, 'function_id');
    const read = await deps.reads.get(project, fid, id);
    if (!read) throw new AppError('NOT_FOUND', `invocation ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    return c.json({ invocation: invocationBody(read) });
  });
  return { app, uploadToken };
}

/**
 * The upload URLs a commit hands out: PUT (or POST) the file's raw bytes, no API key needed (like
 * a pre-signed URL): the token is a MAC of the project, the commit and the file name.
 */
export function c1UploadRoutes(deps: {
  functions: C1Functions;
  uploadToken: (project: string, commitId: string, filename: string) => string;
  maxBodyBytes: number;
}) {
  const app = createRouter();
  const upload = async (c: Context<AppEnv>) => {
    const project = c.req.param('project')!;
    const commitId = c.req.param('commit_id')!;
    const filename = c.req.param('filename')!;
    const given = c.req.query('token') ?? '';
    const expected = deps.uploadToken(project, commitId, filename);
    if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected)))
      throw new AppError('UNAUTHENTICATED', 'the upload URL is not valid (use the one the commit gave)');
    const bytes = Buffer.from(await c.req.arrayBuffer());
    if (bytes.length > deps.maxBodyBytes)
      throw new AppError('PAYLOAD_TOO_LARGE', `a file is at most ${deps.maxBodyBytes} bytes`, [{ field: '(body)', reason: 'too_large' }]);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw fieldError('(body)', 'not_utf8', 'must be UTF-8 text (a function is TypeScript source)');
    }
    await deps.functions.upload(project, commitId, filename, text);
    return c.body(null, 204);
  };
  app.put('/api/c1-uploads/:project/:commit_id/:filename{.+}', upload);
  app.post('/api/c1-uploads/:project/:commit_id/:filename{.+}', upload);
  return app;
}
