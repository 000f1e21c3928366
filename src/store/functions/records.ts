/** An iii function as registered (issue 13): its message, with auth secrets resolved to ids. */
export interface RegisteredFunction {
  project: string;
  id: string;
  description?: string;
  request_format?: unknown;
  response_format?: unknown;
  metadata?: unknown;
  invocation?: {
    url: string;
    method: string;
    timeout_ms: number;
    headers?: Record<string, string>;
    /** As registered, plus the id of the secret each `*_key` named then. */
    auth?:
      | { type: 'bearer'; token_key: string }
      | { type: 'hmac'; secret_key: string }
      | { type: 'api_key'; header: string; value_key: string };
    secret_id?: string;
  };
  created_at: string;
}

/** Registered functions, by project and id; a second registration of an id is refused (false). */
export interface FunctionStore {
  register(fn: RegisteredFunction): Promise<boolean>;
  get(project: string, id: string): Promise<RegisteredFunction | null>;
  list(project: string): Promise<RegisteredFunction[]>;
  remove(project: string, id: string): Promise<boolean>;
}
