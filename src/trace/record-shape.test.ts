import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { isTimestamp } from "./record-shape.js";

/** The definition the arithmetic check must equal: the exact spelling Date writes, of a real instant, year ≥ 1. */
function reference(value: string): boolean {
  const time = Date.parse(value);
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value) && !Number.isNaN(time) && new Date(time).toISOString() === value && !value.startsWith("0000");
}

describe("isTimestamp", () => {
  test("accepts exactly what Date writes for a real instant in the years 0001 to 9999", () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), (ms) => {
        const value = new Date(ms).toISOString();
        expect(isTimestamp(value) === undefined).toBe(reference(value));
      }),
      { numRuns: 5000 },
    );
  });

  test("refuses impossible dates and times as Date does: day 31 of a 30-day month, 29 February outside leap years, hour 24", () => {
    const pad = (n: number, width: number) => String(n).padStart(width, "0");
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 })),
        ([year, month, day, hour, minute]) => {
          const value = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(minute, 2)}.250Z`;
          expect(isTimestamp(value) === undefined).toBe(reference(value));
        },
      ),
      { numRuns: 20_000 },
    );
    for (const bad of ["2026-13-45T99:99:99.999Z", "2025-02-29T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z", "+012026-01-01T00:00:00.000Z"]) {
      expect([bad, isTimestamp(bad)]).toEqual([bad, expect.any(String)]);
    }
    expect(isTimestamp("2024-02-29T23:59:59.999Z")).toBeUndefined();
  });
});
