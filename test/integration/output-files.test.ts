// Files of one-shot executions: what the code leaves under /mnt/req/out comes back listed in the
// answer and in the executions log, and each file's bytes at /v1/executions/{id}/files/{path} —
// bounded in count and bytes, for the project's key only, with a bound secret taken out of them.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

const OTHER_KEY = 'output-files-other-project-key-01';
let kiln: TestKiln;
const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
const download = async (id: string, path: string, key = TEST_KEY) => {
  const res = await fetch(`${kiln.url}/v1/executions/${id}/files/${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
};

beforeAll(async () => {
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_OUTPUT_FILES_MAX: '3',
    KILN_OUTPUT_FILES_MAX_BYTES: String(256 * 1024),
  });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
});

describe('files of a one-shot execution', () => {
  it('lists what the code wrote under out/ and serves each file byte for byte, to its project only', { timeout: 60_000 }, async () => {
    const code = [
      'import os, random',
      'random.seed(7)',
      'blob = bytes(random.getrandbits(8) for _ in range(100_000))',
      'open("out/blob.bin", "wb").write(blob)',
      'os.makedirs("out/data", exist_ok=True)',
      'open("out/data/rows.csv", "w").write("a,b\\n1,2\\n")',
      'import hashlib; print(hashlib.sha256(blob).hexdigest())',
    ].join('\n');
    const res = await kiln.request('POST', '/v1/execute', { language: 'python', code });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      exit_code: 0,
      files: [
        { path: 'blob.bin', size: 100_000 },
        { path: 'data/rows.csv', size: 8 },
      ],
    });
    expect(res.body).not.toHaveProperty('files_truncated');
    const { res: got, bytes } = await download(res.body.id, 'blob.bin');
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('content-disposition')).toBe('attachment; filename="blob.bin"');
    expect(sha(bytes)).toBe(res.body.stdout.trim());
    expect((await download(res.body.id, 'data%2Frows.csv')).bytes.toString()).toBe('a,b\n1,2\n');
    expect((await download(res.body.id, 'data/rows.csv')).bytes.toString()).toBe('a,b\n1,2\n');
    // the log lists them too; another project sees neither the execution nor its files
    const logged = await kiln.request('GET', `/v1/executions/${res.body.id}`);
    expect(logged.body.details.response.files).toEqual(res.body.files);
    expect((await download(res.body.id, 'blob.bin', OTHER_KEY)).res.status).toBe(404);
    expect((await download(res.body.id, 'missing.txt')).res.status).toBe(404);
    expect((await download(res.body.id, '..%2F..%2Fetc%2Fpasswd')).res.status).toBe(404);
  });

  it('keeps to the bounds (count, bytes), says what it left out, and gives nothing of a run that was stopped', {
    timeout: 60_000,
  }, async () => {
    const many = await kiln.request('POST', '/v1/execute', {
      language: 'javascript',
      code: "const fs = require('fs'); for (let i = 0; i < 5; i++) fs.writeFileSync(`out/f${i}.txt`, String(i))",
    });
    expect(many.body).toMatchObject({ exit_code: 0, files_truncated: true });
    expect(many.body.files.map((f: { path: string }) => f.path)).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
    const big = await kiln.request('POST', '/v1/execute', {
      language: 'python',
      code: 'open("out/small.txt", "w").write("s")\nopen("out/huge.bin", "wb").write(b"x" * 300_000)',
    });
    expect(big.body).toMatchObject({ files: [{ path: 'small.txt', size: 1 }], files_truncated: true });
    const linked = await kiln.request('POST', '/v1/execute', {
      language: 'python',
      code: 'import os\nos.symlink("/etc/passwd", "out/passwd")\nos.mkfifo("out/pipe")',
    });
    expect(linked.body).toMatchObject({ exit_code: 0 });
    expect(linked.body).not.toHaveProperty('files');
    const stopped = await kiln.request('POST', '/v1/execute', {
      language: 'python',
      code: 'open("out/partial.txt", "w").write("p")\nimport time\ntime.sleep(30)',
      limits: { execution_timeout: 1 },
    });
    expect(stopped.body).toMatchObject({ stop_reason: 'timeout' });
    expect(stopped.body).not.toHaveProperty('files');
  });

  it("takes a bound secret's value out of a file its tool wrote, and returns a function's files with its output", {
    timeout: 60_000,
  }, async () => {
    const value = `sk_${randomBytes(16).toString('hex')}`;
    const secret = await kiln.request('POST', '/v1/secrets', { name: `files-${randomBytes(3).toString('hex')}`, value });
    const tool = await kiln.request('POST', '/v1/tools', {
      name: `leaky_${randomBytes(3).toString('hex')}`,
      language: 'python',
      code: 'import os\ndef execute(input):\n    open("out/leak.txt", "w").write("key=" + os.environ["KEY"])\n    return {"ok": True}',
      env: [{ name: 'KEY', secret_id: secret.body.id }],
    });
    expect(tool.status).toBe(200);
    const ran = await kiln.request('POST', `/v1/tools/${tool.body.id}/execute`, { input: {} });
    expect(ran.body).toMatchObject({ output: { ok: true }, execution: { files: [{ path: 'leak.txt' }] } });
    const { bytes } = await download(ran.body.execution.id, 'leak.txt');
    expect(bytes.toString()).toBe('key=[redacted secret]');
    expect(bytes.includes(value)).toBe(false);
  });
});
