/** The p-th percentile (nearest rank) of values sorted ascending. */
export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * A numeric setting of a benchmark from the environment, `fallback` when unset. A value that is not a number, or is
 * below `min`, stops the run naming the variable (instead of a NaN that silently measures nothing).
 */
export const knob = (name: string, fallback: number, min = 1): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number of at least ${min}, got "${process.env[name]}"`);
  return value;
};
