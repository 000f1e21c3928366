import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { recordCid } from '../../src/at/resolve.js';

export interface StandInPds {
  url: string;
  did: string;
  /** Publishes an at.functions.metadata record (rkey) with `wasm` as its code blob. */
  publish(rkey: string, wasm: Uint8Array, fields?: Record<string, unknown>): Promise<void>;
  /** Serve the record with this change, under its original CID (a tampered record). */
  tamper(rkey: string, change: Record<string, unknown>): void;
  close(): void;
}

/** A PLC directory and a PDS in one server on 127.0.0.1, serving what a test publishes. */
export async function startStandInPds(did = 'did:plc:kilntestkilntestkilntest'): Promise<StandInPds> {
  const records = new Map<string, { value: Record<string, unknown>; cid: string; served: Record<string, unknown> }>();
  const blobs = new Map<string, Uint8Array>();
  let url = '';
  const server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.end(body instanceof Uint8Array ? body : JSON.stringify(body));
    };
    if (u.pathname === `/plc/${did}`)
      return send(200, { id: did, service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: url }] });
    if (u.pathname === '/xrpc/com.atproto.repo.getRecord') {
      const r = records.get(u.searchParams.get('rkey') ?? '');
      return r
        ? send(200, { uri: `at://${did}/at.functions.metadata/${u.searchParams.get('rkey')}`, cid: r.cid, value: r.served })
        : send(400, { error: 'RecordNotFound' });
    }
    if (u.pathname === '/xrpc/com.atproto.sync.getBlob') {
      const b = blobs.get(u.searchParams.get('cid') ?? '');
      return b ? send(200, b) : send(400, { error: 'BlobNotFound' });
    }
    send(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    did,
    async publish(rkey, wasm, fields = {}) {
      const codeCid = CID.create(1, raw.code, await sha256.digest(wasm)).toString();
      blobs.set(codeCid, wasm);
      const value = {
        $type: 'at.functions.metadata',
        name: rkey,
        version: '1.0.0',
        mode: 'pure-v1',
        entrypoint: 'run',
        inputEncoding: 'application/json',
        outputEncoding: 'application/json',
        code: { $type: 'blob', ref: { $link: codeCid }, mimeType: 'application/wasm', size: wasm.length },
        ...fields,
      };
      records.set(rkey, { value, served: value, cid: (await recordCid(value)).toString() });
    },
    tamper(rkey, change) {
      const r = records.get(rkey)!;
      r.served = { ...r.value, ...change };
    },
    close: () => server.close(),
  };
}
