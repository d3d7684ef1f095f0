import { readFileSync } from "node:fs";
import { AppError } from "../errors.js";
import { inputProblem } from "../input-text.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * A text file's contents, decoded strictly: bytes that are not UTF-8 (a UTF-16 file, a stray byte) would otherwise
 * become U+FFFD and be stored and signed as if written so. A leading byte-order mark is dropped.
 */
export function readUtf8File(path: string, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new AppError("USAGE", `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new AppError("USAGE", `${what} ${path} is not valid UTF-8; save it as UTF-8`);
  }
}

/**
 * Reads a JSON input file; one that cannot be read, is not JSON, or holds text nothing can store (a NUL, an unpaired
 * surrogate, nesting past the limit: src/input-text.ts) is a usage error, before anything is written.
 */
export function readJsonFile(path: string, what: string): unknown {
  const text = readUtf8File(path, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AppError("USAGE", `${what} ${path} is not JSON: ${(error as Error).message}`);
  }
  const problem = inputProblem(value, "");
  if (problem !== undefined) throw new AppError("USAGE", `${what} ${path}: ${problem.field || "its value"} ${problem.reason}`, { details: { field: problem.field } });
  return value;
}

/** Reads a plan file; a file that cannot be read or is not JSON is a usage error, reported before any run exists. */
export function readPlanFile(path: string): unknown {
  try {
    return readJsonFile(path, "plan file");
  } catch (error) {
    throw error instanceof AppError ? new AppError("PLAN_FILE_INVALID", error.message) : error;
  }
}
