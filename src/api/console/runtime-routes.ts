/**
 * The console's runtimes (./runtime-pages.tsx), for a key that may read the project, and a running
 * build's log as server-sent events (./build-log-stream.ts).
 */
import { requireScope } from '../../access/scopes.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { createRouter } from '../context.js';
import type { ConsoleKit } from './console-kit.js';
import { createBuildLogStreams } from './build-log-stream.js';
import { BuildPage, RuntimePage, RuntimesPage } from './runtime-pages.js';

export function runtimeRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, runtimes: CustomRuntimes) {
  const { who } = kit;
  const stream = createBuildLogStreams(runtimes);

  app.get('/console/runtimes', async (c) => {
    requireScope(c.get('principal'), 'read');
    const list = await runtimes.list(c.get('project'), { limit: 100 });
    return kit.page(c, RuntimesPage({ who: who(c), csrf: kit.token(c), runtimes: list }));
  });
  app.get('/console/runtimes/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    const runtime = await runtimes.get(c.get('project'), c.req.param('id'));
    const revisions = await runtimes.revisions(c.get('project'), runtime.id, { limit: 100 });
    return kit.page(c, RuntimePage({ who: who(c), csrf: kit.token(c), runtime, revisions }));
  });
  app.get('/console/runtimes/:id/revisions/:rev', async (c) => {
    requireScope(c.get('principal'), 'read');
    const project = c.get('project');
    const runtime = await runtimes.get(project, c.req.param('id'));
    const { revision, log } = await runtimes.buildLog(project, runtime.id, c.req.param('rev'));
    const live = await runtimes.liveLog(project, runtime.id, revision.id);
    const page = BuildPage({ who: who(c), csrf: kit.token(c), runtime, revision, log: live?.text() ?? log, follow: !!live });
    return kit.page(c, page);
  });
  app.get('/console/runtimes/:id/revisions/:rev/log', async (c) => {
    requireScope(c.get('principal'), 'read');
    const project = c.get('project');
    const revision = await runtimes.revision(project, c.req.param('id'), c.req.param('rev')); // a 404 before any stream
    return stream(project, revision.runtimeId, revision.id) ?? c.text('Too many build logs followed at once; close some pages.', 429);
  });
}
