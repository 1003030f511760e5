import { collectDefaultMetrics, Counter, CounterConfiguration, Gauge, GaugeConfiguration, Histogram, HistogramConfiguration, register, Registry } from 'prom-client';

/**
 * Prometheus metrics of the process, served at `GET /metrics`. One registry per process (an app is a process);
 * every series carries the label `app`. The helpers return the metric already registered under a name, so that an
 * app module built twice in one process (tests) shares its series instead of failing.
 */
export const metricsRegistry: Registry = register;

let processMetricsStarted = false;

/** Label every series with the app and collect Node's default process metrics (CPU, memory, event loop, GC). */
export function startProcessMetrics(app: string): void {
  metricsRegistry.setDefaultLabels({ app });
  if (processMetricsStarted) return;
  processMetricsStarted = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

export function counter<L extends string>(config: CounterConfiguration<L>): Counter<L> {
  return (metricsRegistry.getSingleMetric(config.name) as Counter<L> | undefined) ?? new Counter({ ...config, registers: [metricsRegistry] });
}

export function gauge<L extends string>(config: GaugeConfiguration<L>): Gauge<L> {
  return (metricsRegistry.getSingleMetric(config.name) as Gauge<L> | undefined) ?? new Gauge({ ...config, registers: [metricsRegistry] });
}

export function histogram<L extends string>(config: HistogramConfiguration<L>): Histogram<L> {
  return (metricsRegistry.getSingleMetric(config.name) as Histogram<L> | undefined) ?? new Histogram({ ...config, registers: [metricsRegistry] });
}

/** Buckets (seconds) for request latencies: HTTP, NATS request/reply, vault operations. */
export const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Seconds since a start taken with process.hrtime.bigint(). */
export const secondsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** Latency of every HTTP request, by method, route template (never the raw path) and status. */
export const httpRequestDuration = () =>
  histogram({
    name: 'authpipe_http_request_duration_seconds',
    help: 'HTTP requests served, by method, route template and status (count: requests; sum: seconds)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
  });

/** Latency of every NATS request this app answered, by subject and outcome (`ok` or the error code answered). */
export const rpcRequestDuration = () =>
  histogram({
    name: 'authpipe_rpc_request_duration_seconds',
    help: 'NATS requests answered, by subject and outcome (ok or the error code) (count: requests; sum: seconds)',
    labelNames: ['subject', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
  });
