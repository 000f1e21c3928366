/**
 * A session's files over HTTP: put, get, list and remove in its workspace (/mnt/req), streamed
 * both ways (kiln never holds a file whole). Each is one run of runtimes/session/files.py in the
 * box with `docker exec`, as the sandbox user: the box's own walls decide what it may touch, and
 * the program walks the path without following a symlink. kiln checks the path first as well.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { AppError, fieldError } from '../errors.js';
import { redactingStream } from '../execution/redact.js';
import type { Sessions } from './sessions.js';

const FILES_PROGRAM = readFileSync(new URL('../../runtimes/session/files.py', import.meta.url), 'utf8');

/** A path in the workspace as kiln accepts it: relative, no NUL, no ".." that climbs out. */
export function workspacePath(path: string, field = 'path', allowRoot = false): string {
  if (path.length > 1024) throw fieldError(field, 'too_long', 'must be at most 1024 characters');
  if (path.includes('\0')) throw fieldError(field, 'invalid', 'must not contain NUL');
  const normal = posix.normalize(path.replace(/^\/+/, '') || '.');
  if (normal === '..' || normal.startsWith('../')) throw fieldError(field, 'path_escapes', 'must stay inside the workspace');
  if (normal === '.' && !allowRoot) throw fieldError(field, 'invalid', 'must name a file in the workspace');
  return normal;
}

/** What the program's exit code means, as an error of the request. */
function failure(code: number, stderr: string, path: string): AppError {
  const said = stderr.trim().split('\n').at(-1) ?? '';
  switch (code) {
    case 2:
      return fieldError('path', 'path_refused', `${path}: ${said || 'refused'}`);
    case 3:
      return new AppError('NOT_FOUND', `${path}: not found in the workspace`, [{ field: 'path', reason: 'not_found' }]);
    case 4:
      return fieldError('path', 'wrong_type', `${path}: ${said || 'not of the kind asked for'}`);
    case 5:
      return new AppError('PAYLOAD_TOO_LARGE', 'the workspace is full (KILN_TMPFS_MIB)', [{ field: '(body)', reason: 'workspace_full' }]);
    case 6:
      return new AppError('PAYLOAD_TOO_LARGE', `${path}: ${said}`, [{ field: '(body)', reason: 'too_large' }]);
    case 7:
      return new AppError('CONFLICT', `${path}: it exists already`, [{ field: 'path', reason: 'exists' }]);
    default:
      return new AppError('SANDBOX_UNAVAILABLE', `the session's box could not ${said ? `do it: ${said}` : 'do it'}; retry`, [
        { reason: 'files_failed' },
      ]);
  }
}

export interface FileEntry {
  name: string;
  path: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  modified: number;
}

/** An entry with what E2B's EntryInfo shows besides: its time in ns, mode bits, owner, a symlink's target. */
export interface FileDetail extends FileEntry {
  modified_ns: number;
  mode: number;
  uid: number;
  gid: number;
  target?: string;
}

/** The entry as kiln's own file routes show it. */
export const asEntry = (d: FileDetail): FileEntry => ({ name: d.name, path: d.path, type: d.type, size: d.size, modified: d.modified });

export function createSessionFiles(deps: { sessions: Sessions; maxFileBytes: number }) {
  const { sessions } = deps;

  async function exec(project: string, id: string, args: string[], stdin: (() => Readable) | null) {
    const session = await sessions.use(project, id);
    sessions.touch(session);
    const proc = await session.lease.sandbox.exec(['python3', '-I', '-S', '-c', FILES_PROGRAM, ...args], stdin?.() ?? null);
    return { ...proc, secretValues: session.secretValues };
  }

  /** Reads a whole (small) stdout: a listing's lines, put's size. */
  async function text(stdout: Readable): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of stdout) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** One operation that answers a little text: its stdout, or the failure its exit code says. */
  async function run(project: string, id: string, args: string[], path: string): Promise<string> {
    const proc = await exec(project, id, args, null);
    const [out, end] = await Promise.all([text(proc.stdout), proc.ended]);
    if (end.exitCode !== 0) throw failure(end.exitCode, end.stderr, path);
    return out;
  }

  const entries = (out: string) =>
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as FileDetail);

  return {
    /** Writes `body` to the file at `path` (its directories made), replacing what was there. */
    async put(project: string, id: string, rawPath: string, body: () => Readable): Promise<{ path: string; size: number }> {
      const path = workspacePath(rawPath);
      const proc = await exec(project, id, ['put', path, String(deps.maxFileBytes)], body);
      const [out, end] = await Promise.all([text(proc.stdout), proc.ended]);
      if (end.exitCode !== 0) throw failure(end.exitCode, end.stderr, path);
      return { path, size: Number(out.trim()) };
    },

    /**
     * The file at `path`: its size, and its bytes as they are read in the box. With secrets bound to
     * the session, the bytes pass through their redaction (an upstream may have echoed a credential
     * into a file), and the size is then unknown (null).
     */
    async get(project: string, id: string, rawPath: string): Promise<{ size: number | null; body: Readable }> {
      const path = workspacePath(rawPath);
      const proc = await exec(project, id, ['get', path], null);
      // the first line is the size; nothing comes before it when the program fails. One iterator
      // reads the head and then the body (a for-await that stopped early would destroy the stream).
      const chunks = proc.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      let head = Buffer.alloc(0);
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
        head = Buffer.concat([head, next.value]);
        const newline = head.indexOf(10);
        if (newline < 0 && head.length < 32) continue;
        const size = Number(head.subarray(0, newline).toString());
        if (newline < 0 || !Number.isSafeInteger(size)) break;
        const rest = head.subarray(newline + 1);
        const body = Readable.from(
          (async function* () {
            if (rest.length) yield rest;
            for (let more = await chunks.next(); !more.done; more = await chunks.next()) yield more.value;
          })(),
        );
        const redacting = redactingStream(proc.secretValues);
        return redacting ? { size: null, body: body.pipe(redacting) } : { size, body };
      }
      const end = await proc.ended;
      throw failure(end.exitCode || -1, end.stderr, path);
    },

    /** The entries of the directory at `path` (the workspace itself when empty), and below it to `depth` levels. */
    async list(project: string, id: string, rawPath: string, depth = 1): Promise<FileDetail[]> {
      const path = workspacePath(rawPath, 'path', true);
      return entries(await run(project, id, ['list', path, String(depth)], path));
    },

    /** The entry at `path` (the workspace itself when empty), a symlink as itself. */
    async stat(project: string, id: string, rawPath: string): Promise<FileDetail> {
      const path = workspacePath(rawPath, 'path', true);
      return entries(await run(project, id, ['stat', path], path))[0]!;
    },

    /** Makes the directory at `path` with its parents; a 409 when it is there already. */
    async makeDir(project: string, id: string, rawPath: string): Promise<FileDetail> {
      const path = workspacePath(rawPath, 'path', true);
      return entries(await run(project, id, ['mkdir', path], path))[0]!;
    },

    /** Renames `from` to `to` (its directories made); answers the entry at `to`. */
    async move(project: string, id: string, rawFrom: string, rawTo: string): Promise<FileDetail> {
      const from = workspacePath(rawFrom, 'source');
      const to = workspacePath(rawTo, 'destination');
      return entries(await run(project, id, ['mv', from, to], from))[0]!;
    },

    /** Removes the file (or the directory, with what it holds) at `path`. */
    async remove(project: string, id: string, rawPath: string): Promise<void> {
      const path = workspacePath(rawPath);
      const proc = await exec(project, id, ['rm', path], null);
      const [, end] = await Promise.all([text(proc.stdout), proc.ended]);
      if (end.exitCode !== 0) throw failure(end.exitCode, end.stderr, path);
    },
  };
}

export type SessionFiles = ReturnType<typeof createSessionFiles>;
