/**
 * The pipeline worker's Prometheus metrics (served by shared/metrics-server.ts when a metrics
 * port is set): pipeline runs by trigger and outcome, their duration, lease expiries the reaper
 * found, and results dropped because a lease was lost.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export type RunOutcome = 'fired' | 'expired' | 'error';

export class PipelineMetrics {
  private readonly runs: Counter<'trigger' | 'outcome'>;
  private readonly runSeconds: Histogram<'trigger'>;
  private readonly leaseExpiries: Counter;
  private readonly lostLeases: Counter;

  constructor(registry: Registry) {
    this.runs = new Counter({ name: 'stv3_pipeline_runs_total', help: 'Stream outcomes recorded, by trigger and outcome', labelNames: ['trigger', 'outcome'], registers: [registry] });
    this.runSeconds = new Histogram({ name: 'stv3_pipeline_run_seconds', help: 'Time to run one stream pipeline (handlers and commit)', labelNames: ['trigger'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] });
    this.leaseExpiries = new Counter({ name: 'stv3_pipeline_lease_expiries_total', help: 'Streams whose lease ran out (their worker died or stalled), returned by this worker’s reaper', registers: [registry] });
    this.lostLeases = new Counter({ name: 'stv3_pipeline_lost_leases_total', help: 'Streams this worker could not start or record because its lease was lost', registers: [registry] });
  }

  recorded(trigger: string, outcome: RunOutcome): void {
    this.runs.inc({ trigger, outcome });
  }

  ran(trigger: string, seconds: number): void {
    this.runSeconds.observe({ trigger }, seconds);
  }

  reaped(n: number): void {
    if (n > 0) this.leaseExpiries.inc(n);
  }

  lost(n: number): void {
    if (n > 0) this.lostLeases.inc(n);
  }
}
