import { z } from '@hono/zod-openapi';
import { EnvName, HeaderName, HeaderSafe, HostPattern } from './schemas.js';

// Bindings as tools store them and tool executions send them (Riza's tool shapes): env entries and
// egress credentials that are either a literal or a `secret_id`, never both.

export const SecretId = z.string().min(1).max(128).openapi({ description: 'The id of a secret of this project (POST /v1/secrets).' });

const one = (literal: unknown, secretId: unknown) => (literal !== undefined) !== (secretId !== undefined);
const ONE = 'give the literal or secret_id, one of them';

export const EnvBinding = z
  .object({
    name: EnvName,
    value: z
      .string()
      .refine((v) => !v.includes('\0'), 'must not contain NUL')
      .optional(),
    secret_id: SecretId.optional(),
  })
  .refine((e) => one(e.value, e.secret_id), { message: 'give value or secret_id, one of them', path: ['value'] })
  .openapi('EnvBinding', { description: 'An environment variable: a literal value, or a secret kiln puts in its place.' });

export const HttpAuthBinding = z
  .object({
    basic: z
      .object({
        user_id: HeaderSafe.refine((u) => !u.includes(':'), 'must not contain ":"').optional(),
        password: HeaderSafe.optional(),
        secret_id: SecretId.optional(),
      })
      .refine((b) => one(b.password, b.secret_id), { message: ONE, path: ['password'] })
      .nullish(),
    bearer: z
      .object({ token: HeaderSafe.optional(), secret_id: SecretId.optional() })
      .refine((b) => one(b.token, b.secret_id), { message: ONE, path: ['token'] })
      .nullish(),
    header: z
      .object({ name: HeaderName, value: HeaderSafe.optional(), token: HeaderSafe.optional(), secret_id: SecretId.optional() })
      .refine((h) => one(h.value ?? h.token, h.secret_id), { message: ONE, path: ['value'] })
      .nullish(),
    query: z
      .object({ key: z.string().min(1).max(256), value: z.string().max(8192).optional(), secret_id: SecretId.optional() })
      .refine((q) => one(q.value, q.secret_id), { message: ONE, path: ['value'] })
      .nullish(),
  })
  .refine((a) => [a.basic, a.bearer, a.header, a.query].filter((x) => x != null).length <= 1, 'give one of basic, bearer, header or query')
  .openapi('HttpAuthBinding', {
    description: 'A credential kiln injects for this host: a literal, or a secret by id; it never enters the sandbox.',
  });

export const HttpBinding = z
  .object({
    allow: z
      .array(z.object({ host: HostPattern, auth: HttpAuthBinding.nullish() }).openapi('HttpAllowBinding'))
      .max(100)
      .nullish(),
  })
  .openapi('HttpBinding');

export const EnvBindings = z.array(EnvBinding).max(256);
