/**
 * The console's health page (./health-page.tsx). It shows the whole process — every project's load
 * together — so it is for the operator: an `admin` key of one of KILN_OPERATOR_PROJECTS. A tenant's
 * key, admin of its own project only, learns nothing of the others' use from it. (/metrics, for
 * Prometheus, is the operator's to keep from tenants.)
 */
import { requireScope } from '../../access/scopes.js';
import { AppError } from '../../errors.js';
import type { MetricsHistory } from '../../metrics-history.js';
import type { createRouter } from '../context.js';
import { type ConsoleKit, wantsFragment } from './console-kit.js';
import { HealthCharts, HealthPage } from './health-page.js';

export function healthRoutes(
  app: ReturnType<typeof createRouter>,
  kit: ConsoleKit,
  deps: { history: MetricsHistory; operators: readonly string[] },
) {
  const { history } = deps;
  app.get('/console/health', async (c) => {
    requireScope(c.get('principal'), 'admin');
    if (!deps.operators.includes(c.get('project')))
      throw new AppError(
        'FORBIDDEN',
        "Health shows every project's load: it is for keys of the operator's projects (KILN_OPERATOR_PROJECTS).",
      );
    if (!history.samples().length) await history.record(); // the first page, before the first interval
    const [samples, now] = [history.samples(), Date.now()];
    if (wantsFragment(c)) return c.html(String(HealthCharts({ samples, now })));
    return kit.page(c, HealthPage({ who: kit.who(c), csrf: kit.token(c), samples, now }));
  });
}
