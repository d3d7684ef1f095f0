import { withTransaction } from "../db/database.js";
import { takeExhaustedRuns, tryReaperLock } from "../db/queries/run-queue.js";
import { requeueExpiredLeases } from "../db/queries/run-status.js";
import { toAppError } from "../errors.js";
import type { Run } from "../glossary.js";
import { endWaitingRun } from "./end-waiting-run.js";
import type { RunnerDeps } from "./runner.js";

export interface Reaped {
  requeued: string[];
  failed: string[];
}

/**
 * Returns the runs whose lease expired to the queue, or fails those that used their last attempt
 * (RUN_MAX_ATTEMPTS). One reaper works at a time, whichever worker holds the advisory lock; the others skip the
 * round. Failing a run finalizes it like any other (an interrupted attempt when its trace ends in an intent, the
 * trace completed, a signed checkpoint, its records), so an abandoned run is never left `running`.
 */
export async function reapExpiredLeases(deps: RunnerDeps, reaperId: string): Promise<Reaped> {
  const { config } = deps;
  const taken = await withTransaction(deps.db, async (client) => {
    if (!(await tryReaperLock(client, config.leaseMs))) return { requeued: [], exhausted: [] as Run[] };
    const requeued = await requeueExpiredLeases(client, config.runMaxAttempts);
    const exhausted = await takeExhaustedRuns(client, config.runMaxAttempts, reaperId, config.leaseMs);
    return { requeued, exhausted };
  });
  const failed: string[] = [];
  for (const run of taken.exhausted) {
    const message =
      `Run abandoned: its lease expired on attempt ${run.attempts} of ${config.runMaxAttempts} (RUN_MAX_ATTEMPTS); ` +
      `its workers died or lost the database`;
    try {
      await endWaitingRun(deps.db.pool, deps.keys, run, { status: "failed", errorMessage: message, terminationReason: "system_failure" });
      failed.push(run.id);
    } catch (error) {
      // Its lease (taken above) expires again and the next round tries once more.
      deps.log.warn("cannot end an abandoned run", { run_id: run.id, error: toAppError(error).message });
    }
  }
  if (taken.requeued.length > 0 || failed.length > 0) {
    deps.log.info("reaped expired leases", { requeued: taken.requeued.length, failed: failed.length });
  }
  return { requeued: taken.requeued, failed };
}
