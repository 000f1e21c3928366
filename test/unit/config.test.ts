import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const KEY = 'k'.repeat(32);
const base = { KILN_API_KEYS: KEY };

describe('loadConfig', () => {
  it('applies safe defaults when only the API key is given', () => {
    const c = loadConfig(base);
    expect(c.KILN_API_KEYS).toEqual([{ project: 'default', key: KEY }]);
    expect(c.PORT).toBe(8080);
    expect(c.KILN_HOST).toBe('127.0.0.1');
    expect(c.KILN_DOCKER_HOST).toBeUndefined();
    expect(c.KILN_INSTANCE).toBe(
      hostname()
        .toLowerCase()
        .replace(/[^a-z0-9_.-]/g, '-')
        .replace(/^[^a-z0-9]+/, '') || 'kiln',
    );
    expect(c.KILN_DEFAULT_TIMEOUT_SECONDS).toBe(30);
    expect(c.KILN_MAX_TIMEOUT_SECONDS).toBe(300);
    expect(c.KILN_DEFAULT_MEMORY_MIB).toBe(128);
    expect(c.KILN_MAX_MEMORY_MIB).toBe(1024);
    expect(c.KILN_CONCURRENCY).toBe(8);
    expect(c.KILN_QUEUE_LIMIT).toBe(100);
    expect(c.KILN_MAX_BODY_BYTES).toBe(10 * 1024 * 1024);
    expect(c.KILN_DOCS).toBe(true);
    expect([c.KILN_POOL_PYTHON, c.KILN_POOL_JAVASCRIPT, c.KILN_POOL_TYPESCRIPT]).toEqual([2, 2, 1]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names the replacements of KILN_POOL_NODE, which one pool per language replaced', () => {
    expect(() => loadConfig({ ...base, KILN_POOL_NODE: '0' })).toThrow(
      /KILN_POOL_NODE: replaced by KILN_POOL_JAVASCRIPT and KILN_POOL_TYPESCRIPT/,
    );
    expect(loadConfig({ ...base, KILN_POOL_NODE: '' }).KILN_POOL_JAVASCRIPT).toBe(2); // empty means unset
  });

  it('splits and trims a comma-separated key list, dropping empties', () => {
    const other = 'x'.repeat(20);
    expect(loadConfig({ KILN_API_KEYS: ` ${KEY} ,, ${other} ` }).KILN_API_KEYS).toEqual([
      { project: 'default', key: KEY },
      { project: 'default', key: other },
    ]);
  });

  it('takes an OCI runtime, and under runsc a pids limit gVisor can start in', () => {
    expect(loadConfig(base).KILN_OCI_RUNTIME).toBe('runc');
    expect(loadConfig({ ...base, KILN_OCI_RUNTIME: 'runsc' }).KILN_OCI_RUNTIME).toBe('runsc');
    expect(() => loadConfig({ ...base, KILN_OCI_RUNTIME: 'runsc', KILN_PIDS_LIMIT: '32' })).toThrow(
      /KILN_PIDS_LIMIT: must be at least 64 under runsc/,
    );
    expect(() => loadConfig({ ...base, KILN_OCI_RUNTIME: 'run sc' })).toThrow(/KILN_OCI_RUNTIME/);
  });

  it('reads project:key entries as keys of that project, and a bare key as the default project', () => {
    const keys = loadConfig({
      KILN_API_KEYS: `acme:${KEY},beta-2:${'y'.repeat(16)},${'z'.repeat(16)},Not_A_Project:${'w'.repeat(16)}`,
    }).KILN_API_KEYS;
    expect(keys).toEqual([
      { project: 'acme', key: KEY },
      { project: 'beta-2', key: 'y'.repeat(16) },
      { project: 'default', key: 'z'.repeat(16) },
      // not a project name (upper case): the whole entry is the key
      { project: 'default', key: `Not_A_Project:${'w'.repeat(16)}` },
    ]);
  });

  it('refuses a key listed twice (it could belong to two projects) and a project key that is too short', () => {
    expect(() => loadConfig({ KILN_API_KEYS: `a:${KEY},b:${KEY}` })).toThrow(/KILN_API_KEYS: a key may be listed once/);
    expect(() => loadConfig({ KILN_API_KEYS: 'acme:short' })).toThrow(/KILN_API_KEYS.*16 characters/);
  });

  it('reads PORT, and KILN_PORT wins over it', () => {
    expect(loadConfig({ ...base, PORT: '9000' }).PORT).toBe(9000);
    expect(loadConfig({ ...base, KILN_PORT: '9100' }).PORT).toBe(9100);
    expect(loadConfig({ ...base, PORT: '9000', KILN_PORT: '9100' }).PORT).toBe(9100);
  });

  it('falls back to DOCKER_HOST, and KILN_DOCKER_HOST wins over it', () => {
    expect(loadConfig({ ...base, DOCKER_HOST: 'tcp://d:2375' }).KILN_DOCKER_HOST).toBe('tcp://d:2375');
    expect(loadConfig({ ...base, DOCKER_HOST: 'tcp://d:2375', KILN_DOCKER_HOST: 'unix:///run/d.sock' }).KILN_DOCKER_HOST).toBe(
      'unix:///run/d.sock',
    );
  });

  it('names KILN_API_KEYS when it is missing', () => {
    expect(() => loadConfig({})).toThrow(/KILN_API_KEYS/);
  });

  it('rejects a key shorter than 16 characters', () => {
    expect(() => loadConfig({ KILN_API_KEYS: 'short' })).toThrow(/KILN_API_KEYS.*16 characters/);
    expect(() => loadConfig({ KILN_API_KEYS: `${KEY},short` })).toThrow(/16 characters/);
  });

  it('rejects a key list that is only commas', () => {
    expect(() => loadConfig({ KILN_API_KEYS: ' , ,' })).toThrow(/KILN_API_KEYS/);
  });

  it('names a variable that is not a number', () => {
    expect(() => loadConfig({ ...base, KILN_CONCURRENCY: 'lots' })).toThrow(/KILN_CONCURRENCY/);
    expect(() => loadConfig({ ...base, KILN_MAX_MEMORY_MIB: '-5' })).toThrow(/KILN_MAX_MEMORY_MIB/);
    expect(() => loadConfig({ ...base, KILN_PIDS_LIMIT: '1.5' })).toThrow(/KILN_PIDS_LIMIT/);
  });

  it('names every bad variable at once', () => {
    let message = '';
    try {
      loadConfig({ ...base, KILN_CONCURRENCY: 'x', PORT: '70000' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/KILN_CONCURRENCY/);
    expect(message).toMatch(/PORT/);
  });

  it('rejects a default timeout above the maximum', () => {
    expect(() => loadConfig({ ...base, KILN_DEFAULT_TIMEOUT_SECONDS: '60', KILN_MAX_TIMEOUT_SECONDS: '30' })).toThrow(
      /KILN_DEFAULT_TIMEOUT_SECONDS/,
    );
    expect(loadConfig({ ...base, KILN_DEFAULT_TIMEOUT_SECONDS: '30', KILN_MAX_TIMEOUT_SECONDS: '30' }).KILN_MAX_TIMEOUT_SECONDS).toBe(30);
  });

  it('rejects a default memory above the maximum', () => {
    expect(() => loadConfig({ ...base, KILN_DEFAULT_MEMORY_MIB: '512', KILN_MAX_MEMORY_MIB: '256' })).toThrow(/KILN_DEFAULT_MEMORY_MIB/);
  });

  it("parses booleans as 'true' / 'false' only ('false' is false)", () => {
    expect(loadConfig({ ...base, KILN_DOCS: 'false' }).KILN_DOCS).toBe(false);
    expect(loadConfig({ ...base, KILN_DOCS: 'true' }).KILN_DOCS).toBe(true);
    expect(() => loadConfig({ ...base, KILN_DOCS: 'yes' })).toThrow(/KILN_DOCS/);
  });

  it('allows a zero queue limit and port 0', () => {
    const c = loadConfig({ ...base, KILN_QUEUE_LIMIT: '0', PORT: '0' });
    expect(c.KILN_QUEUE_LIMIT).toBe(0);
    expect(c.PORT).toBe(0);
  });

  it('treats an empty variable as unset, never as 0 or "" (an empty KILN_HOST would bind every interface)', () => {
    const c = loadConfig({ ...base, KILN_HOST: '', PORT: '', KILN_QUEUE_LIMIT: '', KILN_DOCKER_HOST: '', DOCKER_HOST: 'tcp://d:2375' });
    expect(c.KILN_HOST).toBe('127.0.0.1');
    expect(c.PORT).toBe(8080);
    expect(c.KILN_QUEUE_LIMIT).toBe(100);
    expect(c.KILN_DOCKER_HOST).toBe('tcp://d:2375');
    expect(loadConfig({ ...base, KILN_PORT: '', PORT: '9000' }).PORT).toBe(9000);
    expect(() => loadConfig({ KILN_API_KEYS: '' })).toThrow(/KILN_API_KEYS/);
  });

  it('rejects an instance name Docker labels should not carry', () => {
    expect(() => loadConfig({ ...base, KILN_INSTANCE: 'Bad Name' })).toThrow(/KILN_INSTANCE/);
  });

  it('replicas: a postgres:// database, with the shared secrets key it needs', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const c = loadConfig({ ...base, KILN_DATABASE_URL: 'postgres://kiln:pw@db:5432/kiln', KILN_SECRETS_KEY: key });
    expect(c.KILN_DATABASE_URL).toBe('postgres://kiln:pw@db:5432/kiln');
    expect(c.KILN_REPLICA_TIMEOUT_SECONDS).toBe(30);
    expect(() => loadConfig({ ...base, KILN_DATABASE_URL: 'postgres://kiln:pw@db:5432/kiln' })).toThrow(
      /KILN_SECRETS_KEY: required with KILN_DATABASE_URL/,
    );
    expect(() => loadConfig({ ...base, KILN_DATABASE_URL: 'mysql://db/kiln', KILN_SECRETS_KEY: key })).toThrow(
      /KILN_DATABASE_URL: must be a postgres:\/\/ URL/,
    );
    expect(() => loadConfig({ ...base, KILN_REPLICA_TIMEOUT_SECONDS: '1' })).toThrow(/KILN_REPLICA_TIMEOUT_SECONDS/);
  });

  it("takes the egress CA and a TLS engine's client certificate as pairs of files, never half of one", () => {
    expect(
      loadConfig({ ...base, KILN_EGRESS_CA_CERT_FILE: '/ca.pem', KILN_EGRESS_CA_KEY_FILE: '/ca-key.pem' }).KILN_EGRESS_CA_KEY_FILE,
    ).toBe('/ca-key.pem');
    expect(() => loadConfig({ ...base, KILN_EGRESS_CA_CERT_FILE: '/ca.pem' })).toThrow(/KILN_EGRESS_CA_KEY_FILE/);
    expect(() => loadConfig({ ...base, KILN_DOCKER_HOST: 'tcp://engine:2376', KILN_DOCKER_TLS_KEY_FILE: '/key.pem' })).toThrow(
      /KILN_DOCKER_TLS_KEY_FILE/,
    );
    // TLS files with a local socket would do nothing: refused, saying why
    expect(() => loadConfig({ ...base, KILN_DOCKER_TLS_CA_FILE: '/ca.pem' })).toThrow(/TLS files need a tcp:\/\/ engine/);
    expect(loadConfig({ ...base, KILN_DOCKER_HOST: 'tcp://engine:2376', KILN_DOCKER_TLS_CA_FILE: '/ca.pem' }).KILN_DOCKER_TLS_CA_FILE).toBe(
      '/ca.pem',
    );
    // DOCKER_HOST is read as Docker's own clients read it
    expect(loadConfig({ ...base, DOCKER_HOST: 'tcp://engine:2376' }).KILN_DOCKER_HOST).toBe('tcp://engine:2376');
  });

  it("anonymous XRPC calls get a project of their own, which no key's project may be", () => {
    expect(loadConfig(base).KILN_XRPC_PUBLIC_PROJECT).toBe('xrpc-public');
    expect(() => loadConfig({ ...base, KILN_XRPC_PUBLIC_PROJECT: 'default' })).toThrow(
      /KILN_XRPC_PUBLIC_PROJECT: must be a project no key/,
    );
    expect(() => loadConfig({ KILN_API_KEYS: `team:${KEY}`, KILN_XRPC_PUBLIC_PROJECT: 'team' })).toThrow(/KILN_XRPC_PUBLIC_PROJECT/);
    expect(() => loadConfig({ ...base, KILN_XRPC_PUBLIC_PROJECT: 'Not A Project' })).toThrow(
      /KILN_XRPC_PUBLIC_PROJECT: must be a project name/,
    );
    expect(loadConfig({ ...base, KILN_XRPC_PUBLIC_PROJECT: 'anon' }).KILN_XRPC_PUBLIC_PROJECT).toBe('anon');
  });
});
