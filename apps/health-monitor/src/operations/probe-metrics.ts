import { Injectable, OnModuleInit } from '@nestjs/common';
import { counter, histogram } from '@authpipe/platform';
import { ProbeScheduler } from '../probe/probe.scheduler';

const PROBE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every probe sent, by provider, outcome (healthy, revoked, transient) and answer (the HTTP status, timeout or
 * network_error), and how long the provider took. Readiness (NATS, the event store) is the platform's.
 */
@Injectable()
export class ProbeMetrics implements OnModuleInit {
  constructor(private readonly scheduler: ProbeScheduler) {}

  onModuleInit(): void {
    const probes = counter({
      name: 'authpipe_probes_total',
      help: 'Probes sent to providers, by provider, outcome (healthy, revoked, transient) and answer (HTTP status, timeout, network_error)',
      labelNames: ['provider', 'outcome', 'answer'] as const,
    });
    const duration = histogram({
      name: 'authpipe_probe_duration_seconds',
      help: 'Time a provider took to answer a probe, by provider and outcome',
      labelNames: ['provider', 'outcome'] as const,
      buckets: PROBE_BUCKETS,
    });
    this.scheduler.onProbed(({ provider, answer, outcome, durationMs }) => {
      probes.inc({ provider, outcome, answer: String(answer) });
      duration.observe({ provider, outcome }, durationMs / 1000);
    });
  }
}
