/**
 * A pipeline worker's background chore (the lease reaper, the trimmer): run first after a
 * random fraction of the interval and then every 0.5×–1.5× interval, so that N workers started
 * together do not all run it at the same moment. The task says when to run next by returning a
 * delay in ms (e.g. sooner while a backlog lasts), or nothing for the jittered interval; it
 * must not throw (it logs its own failures). stop() aborts the task's signal and waits for a
 * run in progress.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly intervalMs: number,
    private readonly task: (signal: AbortSignal) => Promise<number | void>,
  ) {}

  start(): void {
    this.schedule(this.intervalMs * Math.random());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.task(this.abort.signal).then((next) => {
        this.running = null;
        this.schedule(next ?? this.intervalMs * (0.5 + Math.random()));
      });
    }, ms);
    this.timer.unref();
  }
}
