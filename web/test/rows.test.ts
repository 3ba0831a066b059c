import { describe, expect, it } from "vitest";
import { rowRange } from "../src/ui/rows";

/** Offsets of rows of the given heights. */
const offsetsOf = (hs: number[]) => hs.reduce((o, h) => [...o, (o[o.length - 1] as number) + h], [0]);

describe("virtual list rows", () => {
  it("renders the rows that meet the viewport, plus the overscan on each side", () => {
    const o = offsetsOf(Array(100).fill(100));
    // Viewport 250..1050: rows 2 (200–300) to 10 (1000–1100).
    expect(rowRange(o, 250, 800, 0)).toEqual([2, 11]);
    expect(rowRange(o, 250, 800, 3)).toEqual([0, 14]);
    // A row ending exactly at the viewport's top is not in view; one starting at its bottom neither.
    expect(rowRange(o, 300, 700, 0)).toEqual([3, 10]);
  });

  it("clamps at both ends and copes with rows of different heights and an empty list", () => {
    const o = offsetsOf([50, 400, 20, 20, 300]);
    expect(rowRange(o, -500, 600, 2)).toEqual([0, 4]);
    expect(rowRange(o, 460, 100, 0)).toEqual([2, 5]);
    expect(rowRange(o, 10_000, 800, 2)).toEqual([3, 5]);
    expect(rowRange([0], 0, 800, 6)).toEqual([0, 0]);
  });

});
