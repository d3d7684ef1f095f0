import { claimRunById } from "../db/queries/runs.js";
import { AppError } from "../errors.js";
import type { RunEnding } from "./finalize.js";
import { executeClaimedRun, type Parked, type RunnerDeps } from "./runner.js";

export const DEFAULT_LEASE_MS = 30_000;

/**
 * Claims the given run through the same claim statement a worker uses (status running, attempts + 1 counted
 * once, epoch + 1, lease) and executes it in this process. This is how `aos run` needs no second process.
 */
export async function claimAndExecute(deps: RunnerDeps, runId: string, workerId: string): Promise<RunEnding | Parked> {
  const run = await claimRunById(deps.db.pool, runId, workerId, DEFAULT_LEASE_MS);
  if (run === undefined) {
    throw new AppError("RUN_NOT_CLAIMABLE", `run ${runId} is not claimable: it is not queued, or another worker holds it`);
  }
  return executeClaimedRun(deps, run);
}
