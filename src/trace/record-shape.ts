/**
 * Strict shape checks for the JSON records of a trace (the trace header, step headers, the run-end), written by
 * hand rather than with a schema library because a verifier runs them for every leaf: each returns the first
 * member that is wrong, so a verdict can name the field.
 */
export type Check = (value: unknown) => string | undefined;

const HEX64 = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export const isString: Check = (value) => (typeof value === "string" ? undefined : "not a string");
export const isCount: Check = (value) => (Number.isSafeInteger(value) && (value as number) >= 0 ? undefined : "not a whole number ≥ 0");
export const isHex64: Check = (value) => (typeof value === "string" && HEX64.test(value) ? undefined : "not 64 lowercase hex digits");

/**
 * `YYYY-MM-DDTHH:MM:SS.mmmZ` naming a real instant in the years 0001 to 9999: the one spelling a recorded time has.
 * Checked by arithmetic (a verifier runs this twice per step): month 1–12, the day within its month (leap years
 * included), hour < 24, minute and second < 60.
 */
export const isTimestamp: Check = (value) => {
  if (typeof value !== "string" || value.length !== 24 || !TIMESTAMP.test(value)) return "not a timestamp of the form YYYY-MM-DDTHH:MM:SS.mmmZ";
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  const real =
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(year, month) &&
    Number(value.slice(11, 13)) < 24 &&
    Number(value.slice(14, 16)) < 60 &&
    Number(value.slice(17, 19)) < 60;
  return real ? undefined : "not a real date and time";
};

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function nullable(check: Check): Check {
  return (value) => (value === null ? undefined : check(value));
}

export function literal(expected: string): Check {
  return (value) => (value === expected ? undefined : `not "${expected}"`);
}

export function oneOf(allowed: readonly string[]): Check {
  return (value) => (typeof value === "string" && allowed.includes(value) ? undefined : `not one of ${allowed.join(", ")}`);
}

/** A JSON object with exactly these members, each passing its check. */
export function exactObject(members: Readonly<Record<string, Check>>): Check {
  const names = Object.keys(members);
  return (value) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return "not an object";
    const problem = objectProblem(value as Record<string, unknown>, members, names);
    return problem === undefined ? undefined : `${problem.member}: ${problem.reason}`;
  };
}

export interface ShapeProblem {
  /** The member that is wrong, or "" for the record as a whole. */
  member: string;
  reason: string;
}

/** The first wrong member of `value`, checked against `members`; undefined when it has exactly that shape. */
export function shapeProblem(value: unknown, members: Readonly<Record<string, Check>>): ShapeProblem | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { member: "", reason: "not a JSON object" };
  return objectProblem(value as Record<string, unknown>, members, Object.keys(members));
}

function objectProblem(
  object: Record<string, unknown>,
  members: Readonly<Record<string, Check>>,
  names: readonly string[],
): ShapeProblem | undefined {
  for (const name of names) {
    if (!Object.hasOwn(object, name)) return { member: name, reason: "missing" };
    const reason = (members[name] as Check)(object[name]);
    if (reason !== undefined) return { member: name, reason };
  }
  for (const name in object) {
    if (!Object.hasOwn(members, name)) return { member: name, reason: "not a member of this record" };
  }
  return undefined;
}
