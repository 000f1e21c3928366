import type { KeyOfRequest } from '../../access/scopes.js';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { SessionCalls } from '../../sessions/session-calls.js';
import { asEntry, type SessionFiles } from '../../sessions/session-files.js';
import type { Sessions } from '../../sessions/sessions.js';
import { Language } from '../riza/schemas.js';
import { capForModel } from './results.js';

/**
 * What an agent needs to keep a sandbox across calls without reading kiln's docs: tools to start
 * and end a session, its files (write, read — text, or an image block for an image — and list),
 * and `session_id` on the execute_* tools (builtins.ts), which then run in the session's default
 * context. Results come back as content blocks, images as `image`.
 */
export interface SessionToolDeps {
  sessions: Sessions;
  calls: SessionCalls;
  files: SessionFiles;
  outputLimit: number;
}

/** Largest file read_file hands a model: a text part is capped to outputLimit, an image to this. */
const IMAGE_LIMIT = 5 * 1024 * 1024;
const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

const sessionId = { type: 'string', description: 'The id start_session answered.' };
const path = { type: 'string', description: 'A path in the session workspace (/mnt/req), relative to it.' };

export const SESSION_TOOL_DEFINITIONS = [
  {
    name: 'start_session',
    title: 'Start a sandbox session',
    description:
      'Starts a sandbox that lives across calls: pass its session_id to execute_python / execute_javascript / execute_typescript and variables, imports and loaded data persist between calls; files written under /mnt/req stay for read_file. It ends after idle_timeout_seconds without a call (default 300); end it with end_session when done.',
    inputSchema: {
      type: 'object',
      properties: {
        language: { type: 'string', enum: ['python', 'javascript', 'typescript'] },
        idle_timeout_seconds: { type: 'integer', minimum: 1 },
      },
      required: ['language'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
  },
  {
    name: 'end_session',
    title: 'End a sandbox session',
    description: 'Ends a session: its sandbox and files are gone.',
    inputSchema: { type: 'object', properties: { session_id: sessionId }, required: ['session_id'], additionalProperties: false },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'write_file',
    title: 'Write a file into a session',
    description: 'Writes a file into the session workspace (its directories are made). `encoding: base64` for bytes.',
    inputSchema: {
      type: 'object',
      properties: { session_id: sessionId, path, content: { type: 'string' }, encoding: { type: 'string', enum: ['utf8', 'base64'] } },
      required: ['session_id', 'path', 'content'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
  },
  {
    name: 'read_file',
    title: 'Read a file of a session',
    description: 'Reads a file of the session workspace: an image (png, jpg, gif, webp) comes back as an image, anything else as text.',
    inputSchema: {
      type: 'object',
      properties: { session_id: sessionId, path },
      required: ['session_id', 'path'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: 'list_files',
    title: 'List files of a session',
    description: 'Lists a directory of the session workspace (the workspace itself when path is empty).',
    inputSchema: { type: 'object', properties: { session_id: sessionId, path }, required: ['session_id'], additionalProperties: false },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
];

export const SESSION_TOOLS = new Set(SESSION_TOOL_DEFINITIONS.map((t) => t.name));

const Start = z.strictObject({ language: Language, idle_timeout_seconds: z.number().int().min(1).optional() });
const ById = z.strictObject({ session_id: z.string().min(1).max(256) });
const Write = ById.extend({ path: z.string().min(1), content: z.string(), encoding: z.enum(['utf8', 'base64']).default('utf8') });
const Read = ById.extend({ path: z.string().min(1) });
const List = ById.extend({ path: z.string().default('') });

const text = (value: string) => ({ type: 'text' as const, text: value });

async function readAll(body: Readable, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Runs a session tool; a bad argument is a ZodError naming it, a refusal an AppError (the caller maps both). */
export async function callSessionTool(
  deps: SessionToolDeps,
  project: string,
  name: string,
  args: Record<string, unknown>,
  key: KeyOfRequest,
) {
  switch (name) {
    case 'start_session': {
      const a = Start.parse(args);
      const s = await deps.sessions.create(project, { language: a.language, idleTimeoutSeconds: a.idle_timeout_seconds, createdBy: key });
      const view = { session_id: s.id, language: s.language, expires_at: s.expiresAt, ends_at: s.endsAt };
      return {
        content: [text(`Session ${s.id} started (${s.language}); it ends at ${s.expiresAt} unless used.`)],
        structuredContent: view,
      };
    }
    case 'end_session': {
      const a = ById.parse(args);
      const s = await deps.sessions.remove(project, a.session_id);
      return { content: [text(`Session ${s.id} ended.`)], structuredContent: { session_id: s.id, status: s.status } };
    }
    case 'write_file': {
      const a = Write.parse(args);
      const bytes = Buffer.from(a.content, a.encoding === 'base64' ? 'base64' : 'utf8');
      const put = await deps.files.put(project, a.session_id, a.path, () => Readable.from([bytes]));
      return { content: [text(`Wrote ${put.size} bytes to ${put.path}.`)], structuredContent: put };
    }
    case 'read_file': {
      const a = Read.parse(args);
      const file = await deps.files.get(project, a.session_id, a.path);
      const mimeType = IMAGE_TYPES[a.path.split('.').pop()?.toLowerCase() ?? ''];
      if (mimeType) {
        const bytes = await readAll(file.body, IMAGE_LIMIT);
        if (!bytes)
          return {
            content: [text(`${a.path} is ${file.size} bytes: larger than an image a model is given (${IMAGE_LIMIT}).`)],
            isError: true,
          };
        return { content: [{ type: 'image' as const, data: bytes.toString('base64'), mimeType }] };
      }
      const bytes = await readAll(file.body, Math.max(deps.outputLimit * 4, 1 << 20));
      if (!bytes) return { content: [text(`${a.path} is ${file.size} bytes; read it in parts with execute_* instead.`)], isError: true };
      return { content: [text(capForModel(bytes.toString('utf8'), deps.outputLimit, `session ${a.session_id}`).text)] };
    }
    case 'list_files': {
      const a = List.parse(args);
      const entries = (await deps.files.list(project, a.session_id, a.path)).map(asEntry);
      return { content: [text(JSON.stringify(entries))], structuredContent: { entries } };
    }
    default:
      throw new Error(`not a session tool: ${name}`);
  }
}

/** A session call's answer as an MCP result shaped like every execute_* result (RESULT_SCHEMA), with its rich results as content blocks. */
interface SessionAnswer {
  id: string;
  stdout?: string;
  stderr?: string;
  stdout_truncated?: boolean;
  stderr_truncated?: boolean;
  duration?: number;
  stop_reason?: string;
  restarted?: boolean;
  restored?: boolean;
  results?: unknown;
  error?: unknown;
}

export function sessionCallResult(raw: Record<string, unknown>, limit: number) {
  const answer = raw as unknown as SessionAnswer;
  const results = (Array.isArray(answer.results) ? answer.results : []) as Record<string, unknown>[];
  const main = results.find((r) => r.is_main_result);
  const error = answer.error as { name: string; value: string; traceback: string } | null;
  const stdout = capForModel(String(answer.stdout ?? ''), limit, answer.id);
  const stderr = capForModel(String(answer.stderr ?? ''), limit, answer.id);
  const stopReason = answer.stop_reason === 'interpreter_ended' ? 'sandbox_error' : answer.stop_reason;
  const structured: Record<string, unknown> = {
    execution_id: answer.id,
    exit_code: error ? 1 : 0,
    stdout: stdout.text,
    stderr: stderr.text,
    duration: answer.duration,
    stop_reason: stopReason,
    stdout_truncated: Boolean(answer.stdout_truncated) || stdout.cut > 0,
    stderr_truncated: Boolean(answer.stderr_truncated) || stderr.cut > 0,
    ...(main ? { output: main['application/json'] ?? main['text/plain'] ?? null } : {}),
  };
  const lines = [
    `${error ? `Failed: ${error.name}: ${error.value}` : 'Succeeded'} · ${answer.duration} ms · execution ${answer.id}${answer.restored ? ' · the session was resumed from its checkpoint: files kept, earlier state gone' : answer.restarted ? ' · the interpreter had been restarted: earlier state is gone' : ''}`,
  ];
  if (main?.['text/plain']) lines.push(`value:\n${capForModel(String(main['text/plain']), limit, answer.id).text}`);
  if (stdout.text) lines.push(`stdout:\n${stdout.text}`);
  if (stderr.text) lines.push(`stderr:\n${stderr.text}`);
  if (error?.traceback) lines.push(`traceback:\n${capForModel(error.traceback, limit, answer.id).text}`);
  const images = results.flatMap((r) =>
    ['image/png', 'image/jpeg']
      .filter((t) => typeof r[t] === 'string')
      .map((t) => ({ type: 'image' as const, data: r[t] as string, mimeType: t })),
  );
  return { content: [text(lines.join('\n\n')), ...images], structuredContent: structured, isError: Boolean(error) };
}
