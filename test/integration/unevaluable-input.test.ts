// Schemas that cannot be evaluated, and input nested too deep, against a real kiln and its real
// store: a looping schema is refused when saved (on /v1/tools and iii's /v1/functions) and nothing
// of it reaches the store; a tree schema is saved and runs in a box; C1's json 5,000 deep is a 400
// naming json, where sealing the invocation used to overflow the stack (a 500).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';
import { openStoreOf } from '../helpers/store-of.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kiln-test-data-'));
let kiln: TestKiln;
let store: Store;
beforeAll(async () => {
  kiln = await startTestKiln({ KILN_DATA_DIR: dataDir });
  store = await openStoreOf(dataDir);
});
afterAll(async () => {
  await store?.close();
  await kiln?.close();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const CYCLIC = [{ allOf: [{ $ref: '#' }] }, { $dynamicAnchor: 'a', $dynamicRef: '#a' }];
const TREE = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } }, additionalProperties: false };

function tree(levels: number): object {
  const root: { children?: object[] } = {};
  let node = root;
  for (let i = 1; i < levels; i++) {
    const child = {};
    node.children = [child];
    node = child;
  }
  return root;
}

describe('schemas that cannot be evaluated', () => {
  it.each(CYCLIC)('POST /v1/tools refuses %j with a 400 naming input_schema, and stores nothing', async (schema) => {
    const res = await kiln.post('/v1/tools', {
      name: 'looping',
      language: 'python',
      code: 'def execute(input):\n    return input',
      input_schema: schema,
    });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([expect.objectContaining({ field: 'input_schema', reason: 'schema_cycle' })]);
    expect((await store.tools.list('default', { limit: 100 })).filter((t) => t.name === 'looping')).toEqual([]);
  });

  it.each(CYCLIC)("iii's POST /v1/functions refuses a request_format of %j with a 400 naming it, and stores nothing", async (schema) => {
    const res = await kiln.post('/v1/functions', {
      id: 'looping.fn',
      request_format: schema,
      invocation: { url: 'https://example.com/f' },
    });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([expect.objectContaining({ field: 'request_format', reason: 'schema_cycle' })]);
    expect(await store.functions.get('default', 'looping.fn')).toBeNull();
  });

  it('a tree schema is saved, and a tree 200 nodes deep runs in a box while a bad one never reaches a box', async () => {
    const saved = await kiln.post('/v1/tools', {
      name: 'depth',
      language: 'python',
      code: 'def execute(t):\n    n = 0\n    while t.get("children"):\n        t = t["children"][0]\n        n += 1\n    return n',
      input_schema: TREE,
    });
    expect(saved.status).toBe(200);
    const ran = await kiln.post(`/v1/tools/${saved.body.id}/execute`, { input: tree(200) });
    expect(ran.status).toBe(200);
    expect(ran.body).toMatchObject({ output: 199, output_status: 'valid' });
    const refused = await kiln.post(`/v1/tools/${saved.body.id}/execute`, { input: { children: [{ extra: 1 }] } });
    expect(refused.status).toBe(400);
    expect(refused.body.details[0]).toMatchObject({ reason: 'additionalProperties' });
  });
});

describe('input nested too deep', () => {
  it("C1's json of an object 5,000 deep is a 400 naming json; no invocation is stored", async () => {
    const created = await kiln.post('/api/v1/functions', {
      displayName: 'deep',
      initialContent: { 'main.ts': b64('export default async function main(i: object) { return i; }') },
    });
    expect(created.status).toBe(200);
    const fid = created.body.function.id as string;
    const deep = `${'{"a":'.repeat(4999)}{}${'}'.repeat(4999)}`;
    const res = await kiln.post(`/api/v1/functions/${fid}/invoke`, { commitId: created.body.commit.id, json: b64(deep) });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([expect.objectContaining({ field: 'json', reason: 'too_deep' })]);
    expect(res.body.message).toMatch(/^json: must not nest arrays and objects deeper than 900 levels/);
    expect(await store.c1.listInvocations('default', fid, { limit: 10 })).toEqual([]);
  });
});
