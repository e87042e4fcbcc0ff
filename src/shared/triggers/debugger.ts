/**
 * Per-trigger-definition debugging (spec §4.9): why events do or do not match, cheaply.
 *
 * Operators set `debug_level` on one trigger to see why its streams never fire. Level 0 (the
 * default) must cost nothing on the ingest hot path: its groups are a shared no-op object, and
 * every reason string the matchers pass in is built once at load, so recording a reason is a
 * method call and nothing else.
 *
 * Level 1 counts checks and passes per group ("Match", "Fire") and named counters; level 2 also
 * counts failures per reason. `dumpLines()` gives upstream's exact log lines, then resets:
 *   ---- Trigger Definition: <name> ----
 *   <Group> Criteria: <checks> checks, <passed> passed
 *    - <reason> = <n>                      (level 2)
 *   Counter "<name>" = <n>
 * Groups appear in the order Match, Fire, and only when they were used since the last dump
 * (upstream created them lazily and dropped them on reset). Counters appear in first-use order.
 */

export type DebugLevel = 0 | 1 | 2;
export type DebugGroupName = 'Match' | 'Fire';

/** What matchers record into. Each method returns the check's outcome so callers can return it. */
export interface DebugGroup {
  pass(): true;
  fail(reason: string): false;
  check(ok: boolean, reason: string): boolean;
}

const NO_OP_GROUP: DebugGroup = {
  pass: () => true,
  fail: () => false,
  check: (ok) => ok,
};

class CountingGroup implements DebugGroup {
  checks = 0;
  passed = 0;
  /** null at level 1: reasons are not kept. */
  readonly reasons: Map<string, number> | null;

  constructor(keepReasons: boolean) {
    this.reasons = keepReasons ? new Map() : null;
  }

  pass(): true {
    this.checks++;
    this.passed++;
    return true;
  }

  fail(reason: string): false {
    this.checks++;
    if (this.reasons !== null) this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    return false;
  }

  check(ok: boolean, reason: string): boolean {
    return ok ? this.pass() : this.fail(reason);
  }

  reset(): void {
    this.checks = 0;
    this.passed = 0;
    this.reasons?.clear();
  }
}

const GROUP_ORDER: readonly DebugGroupName[] = ['Match', 'Fire'];

export class TriggerDebugger {
  readonly name: string;
  readonly level: DebugLevel;
  private readonly groups: ReadonlyMap<DebugGroupName, CountingGroup>;
  private readonly counters = new Map<string, number>();

  /** Upstream names the debugger of an unknown trigger "n/a", at level 2. */
  constructor(name: string, level: DebugLevel) {
    this.name = name;
    this.level = level;
    this.groups = new Map(level === 0 ? [] : GROUP_ORDER.map((g) => [g, new CountingGroup(level === 2)]));
  }

  group(name: DebugGroupName): DebugGroup {
    return this.groups.get(name) ?? NO_OP_GROUP;
  }

  /** Named counters: "New stream", "Added events", "Ready to fire", "Locked", … */
  bump(counter: string, by = 1): void {
    if (this.level === 0) return;
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + by);
  }

  /** The lines upstream's dump_debuggers() logged for this trigger (none at level 0); resets. */
  dumpLines(): string[] {
    if (this.level === 0) return [];
    const lines = [`---- Trigger Definition: ${this.name} ----`];
    for (const [name, group] of this.groups) {
      if (group.checks === 0) continue;
      lines.push(`${name} Criteria: ${group.checks} checks, ${group.passed} passed`);
      for (const [reason, n] of group.reasons ?? []) lines.push(` - ${reason} = ${n}`);
      group.reset();
    }
    for (const [counter, n] of this.counters) lines.push(`Counter "${counter}" = ${n}`);
    this.counters.clear();
    return lines;
  }
}
