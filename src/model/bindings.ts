/**
 * Env and egress bindings as requests and tools carry them: a literal value, or a reference to a
 * stored secret (`secret_id`) that kiln resolves at run time. The wire shape (snake_case), so that
 * what a tool stores is what its API accepted.
 */

export interface EnvBinding {
  name: string;
  value?: string;
  secret_id?: string;
}

export interface HttpAuthBinding {
  basic?: { user_id?: string; password?: string; secret_id?: string } | null;
  bearer?: { token?: string; secret_id?: string } | null;
  header?: { name: string; value?: string; token?: string; secret_id?: string } | null;
  query?: { key: string; value?: string; secret_id?: string } | null;
}

export interface AllowBinding {
  host: string;
  auth?: HttpAuthBinding | null;
}
