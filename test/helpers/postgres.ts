import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';

/**
 * The PostgreSQL the tests use: KILN_TEST_DATABASE_URL, or the one `npm run setup` makes (a `kiln`
 * role and a `kiln_test` database on the local cluster).
 */
export function testDatabaseUrl(): string {
  return process.env.KILN_TEST_DATABASE_URL || 'postgres://kiln:kiln@127.0.0.1:5432/kiln_test';
}

export interface TcpProxy {
  port: number;
  /** The database goes away: every connection through the proxy is cut, and new ones are refused. */
  cut(): Promise<void>;
  /** It comes back. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `target`, to take a database away from kiln and give it back. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return { port, cut: stop, restore: () => listen(port), close: stop };
}

/**
 * `KILN_TEST_STORE=postgres`: every kiln a test starts runs on PostgreSQL instead of SQLite, the
 * same suite proving the same behaviour on the store replicas share. A kiln gets the database of
 * its data directory (made on first use), so that a kiln restarted on the same directory finds its
 * state again, as it would in its SQLite file; and a secrets key derived from the same.
 */
export const POSTGRES_MODE = process.env.KILN_TEST_STORE === 'postgres';
export const TEST_DATABASE_PREFIX = 'kiln_t_';

export async function postgresEnvFor(dataDir: string): Promise<Record<string, string>> {
  const digest = createHash('sha256').update(dataDir).digest();
  const name = `${TEST_DATABASE_PREFIX}${digest.toString('hex').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return { KILN_DATABASE_URL: url.toString(), KILN_SECRETS_KEY: digest.toString('base64') };
}

/** Drops the databases of Postgres mode (at the end of a run). */
export async function dropTestDatabases(): Promise<void> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [
      `${TEST_DATABASE_PREFIX}%`,
    ]);
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
  } finally {
    await admin.end();
  }
}

/** Fails with the fix when no PostgreSQL answers at the test URL (instead of a bare ECONNREFUSED). */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `these tests need PostgreSQL at ${new URL(testDatabaseUrl()).host} (${(error as Error).message}): ` +
        'run `npm run setup`, which installs and starts it, or set KILN_TEST_DATABASE_URL',
    );
  } finally {
    await client.end().catch(() => {});
  }
}
