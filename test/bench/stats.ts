// Small statistics helpers for the bench.

/** The p-th percentile (0 < p ≤ 100) of values, by nearest rank; sorts a copy. */
export function percentiles(values: readonly number[], ps: readonly number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return ps.map((p) => {
    if (sorted.length === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
  });
}

export function median(values: readonly number[]): number {
  return percentiles(values, [50])[0]!;
}

/** Events per second over an interval given in milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.NaN;
}

export const MIB = 1024 * 1024;
export const KIB = 1024;
