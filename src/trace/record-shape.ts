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

/** `YYYY-MM-DDTHH:MM:SS.mmmZ` naming a real instant in the years 0001 to 9999: the one spelling a recorded time has. */
export const isTimestamp: Check = (value) => {
  if (typeof value !== "string" || !TIMESTAMP.test(value)) return "not a timestamp of the form YYYY-MM-DDTHH:MM:SS.mmmZ";
  const time = Date.parse(value);
  const real = !Number.isNaN(time) && new Date(time).toISOString() === value && !value.startsWith("0000");
  return real ? undefined : "not a real date and time";
};

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
