// The verified resolution of an AT function: a stand-in PLC directory and PDS on 127.0.0.1, the
// record's CID checked against what @atproto/repo computes, tampering refused, the address policy kept.
import { cidForRecord } from '@atproto/repo';
import { jsonToLex } from '@atproto/lexicon';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAtResolver, parseFunctionUri, recordCid, ResolveError } from '../../../src/at/resolve.js';
import { createAddressPolicy } from '../../../src/egress/address-policy.js';

const DID = 'did:plc:abcdefghijklmnopqrstuvwx';
const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]); // an empty module
let codeCid: string;
let record: Record<string, unknown>;
const tamper = { record: false, blob: false };
let server: http.Server;
let base: string;

beforeAll(async () => {
  codeCid = CID.create(1, raw.code, await sha256.digest(wasm)).toString();
  record = {
    $type: 'at.functions.metadata',
    name: 'add',
    version: '1.0.0',
    mode: 'pure-v1',
    entrypoint: 'run',
    inputEncoding: 'application/json',
    outputEncoding: 'application/json',
    maxMemoryMb: 16,
    code: { $type: 'blob', ref: { $link: codeCid }, mimeType: 'application/wasm', size: wasm.length },
  };
  server = http.createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.end(typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body));
    };
    if (url.pathname === `/plc/${DID}`)
      return send(200, { id: DID, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: base }] });
    if (url.pathname === '/xrpc/com.atproto.repo.getRecord') {
      const cid = (await recordCid(record)).toString();
      return send(200, {
        uri: `at://${DID}/at.functions.metadata/add`,
        cid,
        value: tamper.record ? { ...record, maxMemoryMb: 256 } : record,
      });
    }
    if (url.pathname === '/xrpc/com.atproto.sync.getBlob') return send(200, tamper.blob ? new Uint8Array([...wasm, 0]) : wasm);
    send(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const resolver = (allow = base.replace('http://', '')) =>
  createAtResolver({ policy: createAddressPolicy({ allow }), plcUrl: `${base}/plc`, allowHttp: true, timeoutMs: 5000 });

describe('AT function resolution', () => {
  it('computes the record CID as @atproto/repo does, and resolves a verified record and blob', async () => {
    expect((await recordCid(record)).toString()).toBe((await cidForRecord(jsonToLex(record as never) as never)).toString());
    const got = await resolver().resolve(`at://${DID}/at.functions.metadata/add`);
    expect(got.cid).toBe((await recordCid(record)).toString());
    expect(got.cid).toMatch(/^bafyrei/);
    expect([...got.code]).toEqual([...wasm]);
    expect(got.record).toMatchObject({ mode: 'pure-v1', maxMemoryMb: 16 });
  });

  it('refuses a tampered record, a tampered blob, a bad URI, and a PDS the address policy forbids', async () => {
    tamper.record = true;
    await expect(resolver().resolve(`at://${DID}/at.functions.metadata/add`)).rejects.toThrow(/CID does not match/);
    tamper.record = false;
    tamper.blob = true;
    await expect(
      createAtResolver({
        policy: createAddressPolicy({ allow: base.replace('http://', '') }),
        plcUrl: `${base}/plc`,
        allowHttp: true,
        timeoutMs: 5000,
      }).resolve(`at://${DID}/at.functions.metadata/add`),
    ).rejects.toThrow(/blob does not match/);
    tamper.blob = false;
    for (const bad of ['at://did:plc:abc/at.functions.metadata/x', `at://${DID}/app.bsky.feed.post/x`, 'https://example.com']) {
      const err = await Promise.resolve()
        .then(() => parseFunctionUri(bad))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResolveError);
      expect((err as ResolveError).invalidRequest).toBe(true);
    }
    await expect(resolver('').resolve(`at://${DID}/at.functions.metadata/add`)).rejects.toThrow(/refused/);
    await expect(resolver('').resolve('at://did:web:127.0.0.1%3A9/at.functions.metadata/add')).rejects.toThrow(/refused/);
  });
});

describe('AT function resolution of odd input', () => {
  it('a did:web that decodes to no host is an InvalidRequest, not a fault', async () => {
    const err = await resolver()
      .resolve('at://did:web:%zz/at.functions.metadata/x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResolveError);
    expect((err as ResolveError).invalidRequest).toBe(true);
  });
});
