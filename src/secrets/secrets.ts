import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import { everyItem, type Page, type SecretRecord, type Store } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

/** A place a secret is referred to, named as the wire names it (e.g. `env.0.secret_id`). */
export interface SecretRef {
  id: string;
  field: string;
}

/** The additional data a sealed value is bound to: moved to another row or project, it will not open. */
const aad = (project: string, id: string) => `${project}/${id}`;

/**
 * Secrets: values go in sealed (AES-256-GCM under kiln's secrets key) and come out only in
 * `reveal`, which the execution core calls to put them into the box or header they are bound to.
 */
export function createSecrets(deps: { store: Store; box: SecretBox }) {
  const { store, box } = deps;
  const notFound = (id: string) => new AppError('NOT_FOUND', `secret ${id} not found`, [{ field: 'id', reason: 'not_found' }]);

  /** The refs that name no secret of the project; one query however many. */
  async function unknown(project: string, refs: SecretRef[]): Promise<SecretRef[]> {
    if (!refs.length) return [];
    const found = new Set((await store.secrets.getMany(project, [...new Set(refs.map((r) => r.id))])).map((s) => s.id));
    return refs.filter((r) => !found.has(r.id));
  }
  const unknownError = (missing: SecretRef[]) =>
    new AppError(
      'BAD_REQUEST',
      missing.map((r) => `${r.field}: no secret ${r.id} in this project`).join('; '),
      missing.map((r) => ({ field: r.field, reason: 'secret_not_found', message: `no secret ${r.id}` })),
    );

  return {
    async create(project: string, name: string, value: string): Promise<SecretRecord> {
      const id = newId('secret');
      const now = new Date().toISOString();
      return store.secrets.create({ id, project, name, sealed: box.seal(value, aad(project, id)), createdAt: now, updatedAt: now });
    },
    list: (project: string, page: Page) => store.secrets.list(project, page),
    /** The project's secret of this name (names are not unique: the newest wins), or null. */
    async byName(project: string, name: string): Promise<SecretRecord | null> {
      for await (const secret of everyItem(
        (page) => store.secrets.list(project, page),
        (s) => s.id,
      ))
        if (secret.name === name) return secret;
      return null;
    },
    /** Replaces a secret's value (tools bound to it use the new one from their next run). */
    async rotate(project: string, id: string, value: string): Promise<SecretRecord> {
      const updated = await store.secrets.update(project, id, box.seal(value, aad(project, id)), new Date().toISOString());
      if (!updated) throw notFound(id);
      return updated;
    },
    async remove(project: string, id: string): Promise<void> {
      if (!(await store.secrets.delete(project, id))) throw notFound(id);
    },
    /** Throws a 400 naming each field whose secret_id is not a secret of the project. */
    async check(project: string, refs: SecretRef[]): Promise<void> {
      const missing = await unknown(project, refs);
      if (missing.length) throw unknownError(missing);
    },
    /** The clear values of the referenced secrets, by id; a 400 naming the field of any unknown one. */
    async reveal(project: string, refs: SecretRef[]): Promise<Map<string, string>> {
      if (!refs.length) return new Map();
      const sealed = await store.secrets.getMany(project, [...new Set(refs.map((r) => r.id))]);
      const found = new Map(sealed.map((s) => [s.id, s]));
      const missing = refs.filter((r) => !found.has(r.id));
      if (missing.length) throw unknownError(missing);
      return new Map(
        sealed.map((s) => {
          try {
            return [s.id, box.open(s.sealed, aad(project, s.id))];
          } catch {
            // sealed under another key (secrets.key or KILN_SECRETS_KEY replaced): the owner can set it again
            const field = refs.find((r) => r.id === s.id)!.field;
            throw new AppError(
              'BAD_REQUEST',
              `${field}: secret ${s.id} cannot be decrypted with this kiln's secrets key (was secrets.key or KILN_SECRETS_KEY replaced?); set its value again with POST /v1/secrets/${s.id}`,
              [{ field, reason: 'secret_unreadable' }],
            );
          }
        }),
      );
    },
  };
}

export type Secrets = ReturnType<typeof createSecrets>;
