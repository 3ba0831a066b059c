/**
 * The arithmetic of `VirtualList`, kept apart so it can be tested without a DOM: which rows
 * are near the viewport.
 */

/**
 * Rows to render, [start, end): the rows between the viewport's top and bottom (`top` and
 * `top + height`, in the list's own coordinates) plus `overscan` rows on each side.
 * `offsets[i]` is the top of row i, `offsets[n]` the list's height.
 */
export function rowRange(offsets: ArrayLike<number>, top: number, height: number, overscan: number): [number, number] {
  const n = offsets.length - 1;
  // First row whose bottom is below the viewport's top; last whose top is above its bottom.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((offsets[mid + 1] as number) <= top) lo = mid + 1;
    else hi = mid;
  }
  let last = lo;
  while (last < n && (offsets[last] as number) < top + height) last++;
  return [Math.max(0, lo - overscan), Math.min(n, last + overscan)];
}

