/**
 * The console's health page (./health-page.tsx). It shows the whole process — every project's load
 * together — so it needs the `admin` scope: a key of one project learns nothing of the others' use
 * from it. (/metrics, for Prometheus, is the operator's to firewall.)
 */
import { requireScope } from '../../access/scopes.js';
import type { MetricsHistory } from '../../metrics-history.js';
import type { createRouter } from '../context.js';
import { type ConsoleKit, wantsFragment } from './console-kit.js';
import { HealthCharts, HealthPage } from './health-page.js';

export function healthRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, history: MetricsHistory) {
  app.get('/console/health', async (c) => {
    requireScope(c.get('principal'), 'admin');
    if (!history.samples().length) await history.record(); // the first page, before the first interval
    const [samples, now] = [history.samples(), Date.now()];
    if (wantsFragment(c)) return c.html(String(HealthCharts({ samples, now })));
    return kit.page(c, HealthPage({ who: kit.who(c), csrf: kit.token(c), samples, now }));
  });
}
