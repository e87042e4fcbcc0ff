/**
 * Incremental fire criteria (fix for spec §10 item 6).
 *
 * Upstream re-read every event of a stream on every append to evaluate `should_fire`: for each
 * fire criterion, count the stream's events that match it (stopping at `number`); fire when
 * every criterion reached its `number`. Whether an event matches a criterion depends on that
 * event alone, so the counts can live with the stream instead: add the new event's hits, cap
 * each count at its criterion's `number` (the cap keeps the stored state small and is exactly
 * upstream's early stop), and compare. Same answer, O(criteria) per event.
 */

function checkLengths(what: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new RangeError(`${what} has ${actual} entries but the trigger has ${expected} fire criteria`);
  }
}

/** counts + hits, each capped at its criterion's number. */
export function addHits(numbers: readonly number[], counts: readonly number[], hits: readonly boolean[]): number[] {
  checkLengths('fire counts', counts.length, numbers.length);
  checkLengths('fire hits', hits.length, numbers.length);
  return numbers.map((n, i) => Math.min(n, counts[i]! + (hits[i] ? 1 : 0)));
}

/** Every criterion has at least its number of matching events. */
export function allSatisfied(numbers: readonly number[], counts: readonly number[]): boolean {
  checkLengths('fire counts', counts.length, numbers.length);
  return numbers.every((n, i) => counts[i]! >= n);
}
