import * as dagCbor from '@ipld/dag-cbor';
import { jsonToLex } from '@atproto/lexicon';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import type { Logger } from 'pino';
import { RefusedAddress, type AddressPolicy } from '../egress/address-policy.js';
import { outboundPost } from '../egress/outbound.js';

/** An at.functions.metadata record, as far as running it needs. */
export interface FunctionRecord {
  name?: string;
  mode?: string;
  code?: { ref?: { $link?: string }; cid?: string; size?: number };
  entrypoint?: string;
  maxMemoryMb?: number;
  maxDurationMs?: number;
  [key: string]: unknown;
}

/** Why a function could not be resolved: answered as `ok: false` with this message, or as InvalidRequest. */
export class ResolveError extends Error {
  constructor(
    message: string,
    readonly invalidRequest = false,
  ) {
    super(message);
  }
}

const MAX_BLOB_BYTES = 5 * 1024 * 1024;
const MAX_DOC_BYTES = 1024 * 1024;
const AT_URI =
  /^at:\/\/(did:(?:plc:[a-z2-7]{24}|web:[A-Za-z0-9.%-]+(?::[A-Za-z0-9.%-]+)*))\/at\.functions\.metadata\/([A-Za-z0-9._:~-]{1,512})$/;

/** `at://<did>/at.functions.metadata/<rkey>` → its parts; anything else is an InvalidRequest. */
export function parseFunctionUri(uri: string): { did: string; rkey: string } {
  const m = AT_URI.exec(uri);
  if (!m) throw new ResolveError('function: must be at://<did:plc or did:web>/at.functions.metadata/<rkey>', true);
  return { did: m[1]!, rkey: m[2]! };
}

/** The CID of a record as its repo commits it: CIDv1, DAG-CBOR, sha-256 (base32 as a string). */
export async function recordCid(value: unknown): Promise<CID> {
  return CID.create(1, dagCbor.code, await sha256.digest(dagCbor.encode(jsonToLex(value as never))));
}

/**
 * Finds a published function and verifies everything it fetches: DID → PDS (did:plc through the
 * PLC directory, did:web through its /.well-known/did.json) → the record, whose CID is computed
 * here and must equal the one the PDS names → the code blob, whose raw CID must equal the
 * record's. Every request goes through the address policy; records and blobs are cached by CID.
 */
export function createAtResolver(deps: { policy: AddressPolicy; plcUrl: string; allowHttp: boolean; timeoutMs: number; log?: Logger }) {
  const blobs = new Map<string, Uint8Array>();
  let blobBytes = 0;

  async function get(url: URL, maxBytes: number): Promise<Buffer> {
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && deps.allowHttp)) throw new ResolveError(`${url.origin}: https only`);
    const answer = await outboundPost(url, '', { accept: 'application/json, */*' }, deps.policy, {
      timeoutMs: deps.timeoutMs,
      maxResponseBytes: maxBytes,
      method: 'GET',
    }).catch((err: NodeJS.ErrnoException) => {
      // the caller may be anonymous (KILN_XRPC_PUBLIC): what kiln's resolver answered for a name
      // (an address, and why it was refused) goes to the log, never into the answer
      if (err instanceof RefusedAddress) {
        deps.log?.warn({ url: url.origin, host: err.host, why: err.why }, 'AT fetch refused by the address policy');
        throw new ResolveError(`${url.origin}: ${err.toCaller('KILN_AT_ALLOW_ADDRESSES')}`);
      }
      // Node's connect errors name the address they tried ("connect ECONNREFUSED 10.0.0.5:443"): the code says enough
      throw new ResolveError(`${url.origin}: ${err.code ?? err.message}`);
    });
    if (answer.truncated) throw new ResolveError(`${url.origin}${url.pathname}: larger than ${maxBytes} bytes`);
    if (answer.status !== 200) throw new ResolveError(`${url.origin}${url.pathname}: HTTP ${answer.status}`);
    return answer.body;
  }
  const json = async (url: URL) => {
    try {
      return JSON.parse((await get(url, MAX_DOC_BYTES)).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw err instanceof ResolveError ? err : new ResolveError(`${url.origin}${url.pathname}: not JSON`);
    }
  };

  /** did:web:host[:path…] → https://host/.well-known/did.json, or https://host/path…/did.json (http for a loopback host when allowed). */
  function webDidUrl(did: string): URL {
    try {
      const [host, ...path] = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
      const scheme = deps.allowHttp && /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host!) ? 'http' : 'https';
      return new URL(`${scheme}://${host}/${path.length ? `${path.join('/')}/did.json` : '.well-known/did.json'}`);
    } catch {
      // a %-escape that decodes to nothing, or a host no URL can hold
      throw new ResolveError(`function: ${did} is not a did:web kiln can resolve`, true);
    }
  }

  async function pds(did: string): Promise<string> {
    const doc = await json(did.startsWith('did:plc:') ? new URL(`${deps.plcUrl.replace(/\/$/, '')}/${did}`) : webDidUrl(did));
    if (doc.id !== did) throw new ResolveError(`the DID document is for ${String(doc.id)}, not ${did}`);
    const services = Array.isArray(doc.service) ? (doc.service as { id?: string; type?: string; serviceEndpoint?: unknown }[]) : [];
    const endpoint = services.find(
      (s) => s.id === '#atproto_pds' || s.id === `${did}#atproto_pds` || s.type === 'AtprotoPersonalDataServer',
    )?.serviceEndpoint;
    if (typeof endpoint !== 'string' || !URL.canParse(endpoint)) throw new ResolveError(`${did} names no PDS`);
    return endpoint.replace(/\/$/, '');
  }

  return {
    /** The verified record and its CID (`functionCid`), and its verified code. */
    async resolve(uri: string): Promise<{ record: FunctionRecord; cid: string; code: Uint8Array }> {
      const { did, rkey } = parseFunctionUri(uri);
      const base = await pds(did);
      const q = new URLSearchParams({ repo: did, collection: 'at.functions.metadata', rkey });
      const answer = await json(new URL(`${base}/xrpc/com.atproto.repo.getRecord?${q}`));
      const computed = await recordCid(answer.value).then(
        (cid) => cid.toString(),
        () => {
          throw new ResolveError('the PDS answered no record kiln can encode (DAG-CBOR)');
        },
      );
      if (typeof answer.cid !== 'string' || answer.cid !== computed)
        throw new ResolveError(
          `the record's CID does not match its contents (PDS says ${String(answer.cid)}, contents hash to ${computed})`,
        );
      const record = answer.value as FunctionRecord;
      const codeCid = record.code?.ref?.$link ?? record.code?.cid;
      if (typeof codeCid !== 'string') throw new ResolveError('the record has no code blob');
      let code = blobs.get(codeCid);
      if (!code) {
        const bytes = await get(
          new URL(`${base}/xrpc/com.atproto.sync.getBlob?${new URLSearchParams({ did, cid: codeCid })}`),
          MAX_BLOB_BYTES,
        );
        const actual = CID.create(1, raw.code, await sha256.digest(bytes)).toString();
        if (actual !== codeCid) throw new ResolveError(`the code blob does not match its CID (${codeCid}; its bytes hash to ${actual})`);
        code = new Uint8Array(bytes);
        // content-addressed: safe to keep; bounded all the same
        if (blobBytes + code.length > 64 * MAX_BLOB_BYTES) {
          blobs.clear();
          blobBytes = 0;
        }
        blobs.set(codeCid, code);
        blobBytes += code.length;
      }
      return { record, cid: computed, code };
    },
  };
}

export type AtResolver = ReturnType<typeof createAtResolver>;
