import type { AppError } from "../errors.js";
import { cliHint, cliMessage } from "./error-wording.js";
import { EXIT } from "./exit-codes.js";
import { type Output, paint, printable } from "./output.js";

const USAGE_CODES = new Set(["USAGE", "VALIDATION_ERROR", "TENANT_REQUIRED", "PLAN_FILE_INVALID"]);

/**
 * A usage error (exit 2): bad flags or input, refused before anything was written. An explicit plan that does not
 * validate is one; a planner's plan that failed is not (it names the failed run it recorded, in details.run_id).
 */
export function isUsageError(error: AppError): boolean {
  if (error.code === "PLAN_INVALID") return error.details?.run_id === undefined;
  return USAGE_CODES.has(error.code);
}

/** Every error the CLI reports reads the same: `error: <message>`, then `hint: <what to do>`. */
export function printError(output: Output, error: AppError, verb: string | undefined): void {
  output.err(`${paint(output, "red", "error:")} ${printable(cliMessage(error))}`);
  output.err(`hint: ${cliHint(error.code, verb)}`);
}

/** The exit code of a command that ended with this error. */
export function errorExitCode(error: AppError): number {
  return isUsageError(error) ? EXIT.usage : EXIT.failure;
}
