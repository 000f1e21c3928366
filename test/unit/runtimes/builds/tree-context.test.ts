import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { treeContext } from '../../../../src/runtimes/builds/tree-context.js';

type Entry = Partial<tar.Header> & { name: string; body?: string };

/** A tar as a build box could send it: whatever entries it likes. */
async function boxTar(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const { body, ...header } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Readable.from([Buffer.concat(chunks)]);
}

/** The context's entries, as Docker would read them. */
async function read(context: Readable): Promise<{ name: string; type?: string; mode?: number; uid?: number; body: string }[]> {
  const extract = tar.extract();
  const out: { name: string; type?: string; mode?: number; uid?: number; body: string }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      let body = '';
      stream.on('error', () => {}); // destroyed with the extract: reported once, by it
      stream.on('data', (d: unknown) => (body += String(d)));
      stream.on('end', () => {
        out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, body });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  context.on('error', (e) => extract.destroy(e));
  context.pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return out;
}

const limits = { maxBytes: 1024, maxEntries: 10 };

describe('the context a derived image is built from', () => {
  it('COPYs the tree onto the base by id; files lose setuid and setgid, everything is root-owned; devices and hard links are dropped', async () => {
    const context = treeContext(
      await boxTar([
        { name: './', type: 'directory', mode: 0o777, uid: 10001 },
        { name: './pkg/', type: 'directory', mode: 0o777, uid: 10001 },
        { name: './pkg/run.sh', mode: 0o6777, uid: 10001, body: '#!/bin/sh\n' },
        { name: './pkg/link', type: 'symlink', linkname: '../pkg/run.sh' },
        { name: './pkg/hard', type: 'link', linkname: './pkg/run.sh' },
        { name: './pkg/null', type: 'character-device', devmajor: 1, devminor: 3 },
      ]),
      { base: 'sha256:abc', dest: '/opt/kiln/site', limits },
    );
    const entries = await read(context);
    expect(entries[0]).toMatchObject({ name: 'Dockerfile', body: 'FROM sha256:abc\nCOPY tree/ /opt/kiln/site/\n' });
    const tree = Object.fromEntries(entries.slice(1).map((e) => [e.name, e]));
    expect(Object.keys(tree)).toEqual(['tree/', 'tree/pkg', 'tree/pkg/run.sh', 'tree/pkg/link']);
    expect(tree['tree/pkg']).toMatchObject({ type: 'directory', mode: 0o755, uid: 0 });
    expect(tree['tree/pkg/run.sh']).toMatchObject({ type: 'file', mode: 0o755, uid: 0, body: '#!/bin/sh\n' });
  });

  it.each([
    ['a path that climbs out', [{ name: '../etc/passwd', body: 'x' }], /not plain/],
    ['an absolute path', [{ name: '/etc/passwd', body: 'x' }], /not plain/],
    ['too many bytes', [{ name: 'big', body: 'x'.repeat(2000) }], /bytes of files/],
    ['too many files', Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, body: '' })), /more than 10 files/],
  ])('refuses a tree with %s', async (_what, entries, why) => {
    const context = treeContext(await boxTar(entries as Entry[]), { base: 'sha256:abc', dest: '/x', limits });
    await expect(read(context)).rejects.toThrow(why);
  });
});
