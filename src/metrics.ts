import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric kiln exports, on one registry (no global state, so tests can build many). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kiln_process_' });
  /** What the gauges below read when they are collected: the composition root points these at admission and the builder. */
  const sources = { running: () => 0, builds: () => 0 };
  return {
    registry,
    sources,
    running: new Gauge({
      name: 'kiln_executions_running',
      help: 'Executions holding a slot (KILN_CONCURRENCY) now.',
      registers: [registry],
      collect() {
        this.set(sources.running());
      },
    }),
    buildQueue: new Gauge({
      name: 'kiln_build_queue',
      help: 'Custom runtime builds queued or running in this process.',
      registers: [registry],
      collect() {
        this.set(sources.builds());
      },
    }),
    executions: new Counter({
      name: 'kiln_executions_total',
      help: 'Executions finished, by language and outcome (valid, error, json_serialization_error, timeout, out_of_memory, output_limit, sandbox_error, cancelled).',
      labelNames: ['language', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'kiln_execution_duration_seconds',
      help: 'Time from admission to answer of an execution, by language.',
      labelNames: ['language'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    queueWaiting: new Gauge({ name: 'kiln_queue_waiting', help: 'Executions waiting for a slot.', registers: [registry] }),
    egress: new Counter({
      name: 'kiln_egress_requests_total',
      help: 'Requests through the egress proxy, by decision (allowed, denied_host, refused_address, bad_request, upstream_error).',
      labelNames: ['decision'] as const,
      registers: [registry],
    }),
    poolReady: new Gauge({
      name: 'kiln_pool_ready',
      help: 'Warm sandboxes waiting for a request, by language they serve.',
      labelNames: ['language'] as const,
      registers: [registry],
    }),
    poolRefill: new Histogram({
      name: 'kiln_pool_refill_seconds',
      help: 'Time to create, attach and start one pooled sandbox.',
      labelNames: ['pool'] as const,
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'kiln_store_errors_total',
      help: 'Store operations that failed, by operation (an execution whose recording failed was still answered).',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    rejections: new Counter({
      name: 'kiln_rejections_total',
      help: 'Requests refused before running, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
