/**
 * kiln's command line, for what is done before there is a key to do it with (issue 26):
 *
 *   npm run kiln -- keys create --project <p> --name <n> --scopes admin[,run,…] [--expires-at <RFC 3339>]
 *   npm run kiln -- keys list --project <p>
 *   npm run kiln -- keys revoke --project <p> <key id>
 *   npm run kiln -- oauth code --project <p>
 *
 * It opens the same store kiln does (KILN_DATABASE_URL, else KILN_DATA_DIR's kiln.db), with the
 * same environment. A made key's secret is printed once, on stdout; nothing else prints it. An
 * OAuth code is what a person types on the consent page of kiln's authorization server to let a
 * client into <p>: single-use, for ten minutes.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createKeys } from './access/keys.js';
import { createOAuthGrants } from './access/oauth/grants.js';
import { SCOPES } from './access/scopes.js';
import { loadConfig, PROJECT } from './config.js';
import { AppError } from './errors.js';
import { openPostgresStore } from './store/postgres/postgres-store.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';

const USAGE = `usage:
  npm run kiln -- keys create --project <project> --name <name> --scopes <admin,manage,run,read,tools:<id>…> [--expires-at <RFC 3339>]
  npm run kiln -- keys list --project <project>
  npm run kiln -- keys revoke --project <project> <key id>
  npm run kiln -- oauth code --project <project>`;

/** `admin,run` or `run,tools:tool_a,tool_b`: a scope list splits on commas, and a tools: allow-list takes the ids after it. */
function scopeList(given: string): string[] {
  const out: string[] = [];
  for (const part of given
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const last = out.at(-1);
    if (last?.startsWith('tools:') && !(SCOPES as readonly string[]).includes(part) && !part.startsWith('tools:'))
      out[out.length - 1] = `${last},${part}`;
    else out.push(part);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { project: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'string' }, 'expires-at': { type: 'string' } },
  });
  const [noun, verb, id] = positionals;
  const known = noun === 'keys' ? ['create', 'list', 'revoke'] : noun === 'oauth' ? ['code'] : [];
  if (!known.includes(verb ?? '') || !values.project) {
    console.error(USAGE);
    return 2;
  }
  if (!PROJECT.test(values.project)) {
    console.error(`kiln: --project: ${values.project} is not a project name (lower case letters, digits, - and _)`);
    return 2;
  }
  // the store is all the CLI needs of kiln's settings: no key has to exist to make the first one
  const config = loadConfig({ KILN_API_KEYS: 'kiln-cli-placeholder-key', ...process.env });
  const shared = config.KILN_DATABASE_URL ? await openPostgresStore({ url: config.KILN_DATABASE_URL }) : null;
  const store = shared?.store ?? (await openSqliteStore({ file: join(config.KILN_DATA_DIR, 'kiln.db') }));
  try {
    const keys = createKeys({ store: store.keys, bootstrap: [] });
    if (noun === 'oauth') {
      const grants = createOAuthGrants({ store: store.oauth, accessSeconds: 60, refreshDays: 1 });
      console.error(`a one-time code for project ${values.project}'s consent page, for ten minutes:`);
      console.log(await grants.consentCode(values.project));
    } else if (verb === 'create') {
      if (!values.name || !values.scopes) {
        console.error(USAGE);
        return 2;
      }
      const scopes = scopeList(values.scopes);
      const { record, secret } = await keys.create(values.project, { name: values.name, scopes, expiresAt: values['expires-at'] ?? null });
      console.error(
        `made key ${record.id} (${record.name}) of project ${record.project}: ${record.scopes.join(' ')}; its secret, shown this once:`,
      );
      console.log(secret);
    } else if (verb === 'list') {
      for (const k of await keys.list(values.project, { limit: 100 }))
        console.log(
          `${k.id}\t${k.name}\t${k.scopes.join(' ')}\t${k.revokedAt ? `revoked ${k.revokedAt}` : k.expiresAt ? `expires ${k.expiresAt}` : 'active'}`,
        );
    } else {
      if (!id) {
        console.error(USAGE);
        return 2;
      }
      const k = await keys.revoke(values.project, id);
      console.error(`revoked ${k.id} (${k.name})`);
    }
    return 0;
  } catch (err) {
    console.error(err instanceof AppError ? `kiln: ${err.message}` : `kiln: ${String(err)}`);
    return 1;
  } finally {
    await store.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
