import { AppError } from "./errors.js";

/**
 * The one check every piece of outside input passes before anything reads it (an API request's path, query, body
 * and headers; a CLI verb's JSON file): no NUL (PostgreSQL text cannot hold one), no unpaired surrogate (UTF-8 cannot
 * encode one, so it could not be stored or hashed as given), and arrays and objects nested at most MAX_INPUT_DEPTH
 * deep (deeper input would exhaust the stack of whatever walks it). A problem is a 400 / exit 2 naming the field.
 */
const MAX_INPUT_DEPTH = 64;

/**
 * The longest texts AOS takes, in code points, wherever they come from (the API's schemas, the services the CLI
 * calls, the CLI's own arguments): ids and names, and a run's goal.
 */
export const MAX_ID_CHARS = 200;
export const MAX_NAME_CHARS = 200;
export const MAX_GOAL_CHARS = 10_000;

/** Length in code points, as the spec and the database count it (an emoji is one, not two UTF-16 units). */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A person's name as it will be recorded (who decided, who set a policy): trimmed, not empty, at most MAX_NAME_CHARS
 * code points, no control character (a newline or an escape sequence would forge lines or drive a terminal where it
 * is shown) and no unpaired surrogate. Throws `code` naming `field`.
 */
export function personName(value: string | undefined, field: string, code: "VALIDATION_ERROR" | "USAGE" = "USAGE"): string {
  const name = value?.trim() ?? "";
  if (name === "") throw new AppError(code, `${field} is required: say who decides`, { details: { field } });
  checkLength(name, MAX_NAME_CHARS, field, code);
  if (/\p{Cc}/u.test(name) || !name.isWellFormed()) {
    throw new AppError(code, `${field} holds a control character or an unpaired surrogate; give the name as plain text`, { details: { field } });
  }
  return name;
}

/** Throws `code` naming `field` when `text` is longer than `max` code points. */
export function checkLength(text: string, max: number, field: string, code: "VALIDATION_ERROR" | "USAGE" = "VALIDATION_ERROR"): void {
  const length = codePoints(text);
  if (length > max) throw new AppError(code, `${field} is ${length} characters long; at most ${max} are allowed`, { details: { field } });
}

export interface InputProblem {
  /** Where, as a path: `body.plan.steps[0].params.url`, `path.run_id`, `plan.steps[1]`. */
  field: string;
  reason: string;
}

/** The first problem in `value`, at `where` (the path of the value itself), or undefined when it has none. */
export function inputProblem(value: unknown, where: string): InputProblem | undefined {
  return problemAt(value, where, 0);
}

/** Throws VALIDATION_ERROR (400, exit 2 from the CLI as a usage error) naming the field, when `value` has a problem. */
export function checkInput(value: unknown, where: string, code: "VALIDATION_ERROR" | "USAGE" = "VALIDATION_ERROR"): void {
  const problem = inputProblem(value, where);
  if (problem === undefined) return;
  throw new AppError(code, `${problem.field}: ${problem.reason}`, { details: { field: problem.field } });
}

function problemAt(value: unknown, where: string, depth: number): InputProblem | undefined {
  if (typeof value === "string") return textProblem(value, where);
  if (value === null || typeof value !== "object") return undefined;
  if (depth >= MAX_INPUT_DEPTH) return { field: where, reason: `nests deeper than ${MAX_INPUT_DEPTH} levels of arrays and objects` };
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = problemAt(item, `${where}[${index}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const at = where === "" ? key : `${where}.${key}`;
    const inKey = textProblem(key, at);
    if (inKey !== undefined) return { field: at, reason: `its name ${inKey.reason}` };
    const found = problemAt(item, at, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function textProblem(text: string, where: string): InputProblem | undefined {
  if (text.includes("\u0000")) return { field: where, reason: "holds a NUL character (U+0000), which cannot be stored; remove it" };
  if (!text.isWellFormed()) return { field: where, reason: "holds an unpaired UTF-16 surrogate, which is not text (UTF-8 cannot encode it); send well-formed Unicode" };
  return undefined;
}
