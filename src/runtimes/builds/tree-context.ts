import { Readable } from 'node:stream';
import tar from 'tar-stream';

/** Bounds on what a build may put into an image. */
export interface TreeLimits {
  maxBytes: number;
  maxEntries: number;
}

export class TreeRefused extends Error {}

/**
 * A Docker build context for a derived image: a Dockerfile that COPYs the installed tree onto the
 * base image, and the tree itself, rewritten from the tar a build box produced. The box is
 * untrusted, so is its tar: only regular files, directories and symlinks pass, with relative paths
 * that never climb out; setuid, setgid and sticky bits are dropped, every entry is owned by root
 * (the code, uid 10001, can read but not change it), and size and entry count are bounded.
 */
export function treeContext(boxTar: Readable, opts: { base: string; dest: string; limits: TreeLimits }): Readable {
  const pack = tar.pack();
  const dockerfile = `FROM ${opts.base}\nCOPY tree/ ${opts.dest}/\n`;
  pack.entry({ name: 'Dockerfile', mode: 0o644, uid: 0, gid: 0 }, dockerfile);
  pack.entry({ name: 'tree/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  const extract = tar.extract();
  let bytes = 0;
  let entries = 0;
  extract.on('entry', (header, stream, next) => {
    // an entry's stream errors too when the extract is destroyed (by a refusal): that is reported once, below
    stream.on('error', () => {});
    const fail = (why: string) => {
      stream.resume();
      next(new TreeRefused(why));
    };
    const name = header.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (++entries > opts.limits.maxEntries) return fail(`more than ${opts.limits.maxEntries} files`);
    if (name === '' || name === '.') {
      stream.resume();
      return next();
    }
    if (name.startsWith('/') || name.split('/').some((part) => part === '..' || part === ''))
      return fail(`a path that is not plain: ${name.slice(0, 200)}`);
    // executable bits kept; nothing writable but by root, nothing setuid
    const mode = (header.mode ?? 0o644) & 0o755;
    const common = { name: `tree/${name}`, uid: 0, gid: 0, mtime: header.mtime };
    if (header.type === 'directory') {
      pack.entry({ ...common, type: 'directory', mode: 0o755 });
      stream.resume();
      return next();
    }
    if (header.type === 'symlink') {
      pack.entry({ ...common, type: 'symlink', linkname: header.linkname ?? '', mode: 0o777 });
      stream.resume();
      return next();
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') {
      // devices, FIFOs and hard links have no place in a package tree; hard links are rare enough to skip
      stream.resume();
      return next();
    }
    bytes += header.size ?? 0;
    if (bytes > opts.limits.maxBytes) return fail(`more than ${opts.limits.maxBytes} bytes of files`);
    const out = pack.entry({ ...common, type: 'file', size: header.size, mode: mode | 0o644 }, (error) => next(error ?? undefined));
    stream.pipe(out);
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (error: Error) => pack.destroy(error));
  // the error reaches the reader through the Node stream below; an unheard 'error' would crash kiln
  pack.on('error', () => {});
  boxTar.on('error', (error: Error) => extract.destroy(error));
  boxTar.pipe(extract as unknown as NodeJS.WritableStream);
  // tar-stream's streams are streamx ones; Docker's client wants a Node stream
  return Readable.from(pack as AsyncIterable<Buffer>);
}
