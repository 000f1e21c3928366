import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Execute } from '../../execution/executor.js';
import type { Tools } from '../../tools/tools.js';
import type { SessionCalls } from '../../sessions/session-calls.js';
import type { SessionFiles } from '../../sessions/session-files.js';
import type { Sessions } from '../../sessions/sessions.js';
import type { Keys } from '../../access/keys.js';
import { keyAuth } from '../auth.js';
import { limitBody } from '../body-limit.js';
import { createRouter } from '../context.js';
import { mcpHttpError } from './errors.js';
import { mcpMethodNotAllowed, mcpOrigin, mcpRoutes } from './route.js';

type McpSettings = Pick<
  Config,
  | 'KILN_API_KEYS'
  | 'KILN_MAX_BODY_BYTES'
  | 'KILN_MAX_TIMEOUT_SECONDS'
  | 'KILN_TOOLS_MAX_CHILDREN'
  | 'KILN_MCP_ALLOWED_ORIGINS'
  | 'KILN_MCP_TOOL_LIST_LIMIT'
  | 'KILN_MCP_OUTPUT_LIMIT_BYTES'
>;

/**
 * MCP at /mcp (Streamable HTTP, stateless): 405 for GET and DELETE whoever asks; the Origin check
 * before auth, as a preflight has no key; then the key and the body bound. Errors raised before
 * the transport answer in JSON-RPC with kiln's status and headers.
 */
export function mcpDialect(
  services: {
    tools: Tools;
    execute: Execute;
    sessions: Sessions;
    sessionCalls: SessionCalls;
    sessionFiles: SessionFiles;
    invocations: Invocations;
    statuses: ExecutionStatuses;
    keys: Keys;
  },
  settings: McpSettings,
  log: Logger,
) {
  const app = createRouter();
  app.onError((err, c) => mcpHttpError(err, c, log));
  app.on(['GET', 'DELETE'], '/mcp', mcpMethodNotAllowed);
  app.use('/mcp', mcpOrigin(settings.KILN_MCP_ALLOWED_ORIGINS));
  app.use('/mcp', keyAuth(services.keys));
  app.use('/mcp', limitBody(settings.KILN_MAX_BODY_BYTES));
  app.route(
    '/',
    mcpRoutes({
      tools: services.tools,
      execute: services.execute,
      listLimit: settings.KILN_MCP_TOOL_LIST_LIMIT,
      outputLimit: settings.KILN_MCP_OUTPUT_LIMIT_BYTES,
      maxTimeoutSeconds: settings.KILN_MAX_TIMEOUT_SECONDS,
      maxToolCalls: settings.KILN_TOOLS_MAX_CHILDREN,
      sessions: { sessions: services.sessions, calls: services.sessionCalls, files: services.sessionFiles },
      invocations: services.invocations,
      statuses: services.statuses,
      maxBodyBytes: settings.KILN_MAX_BODY_BYTES,
      log,
    }),
  );
  return app;
}
