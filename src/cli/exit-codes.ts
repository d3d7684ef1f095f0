import type { RunStatus } from "../glossary.js";

/**
 * Exit codes: 0 success, 1 a failure (a failed run, a missing resource, an unreachable database), 2 bad usage, 3 a
 * run waiting for a person's approval (pending_approval): not a failure, and not done either; 130 a run this
 * process was executing when Ctrl-C (SIGINT) or SIGTERM stopped it, handed back to the queue, or a watch of a run
 * they stopped (the run goes on).
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, parked: 3, interrupted: 130 } as const;

/** The exit code for a command that waited for a run to settle. */
export function runExitCode(status: RunStatus): number {
  if (status === "succeeded") return EXIT.ok;
  return status === "pending_approval" ? EXIT.parked : EXIT.failure;
}
