import { type Database, withTransaction } from "../db/database.js";
import { endRun } from "../db/queries/runs.js";
import { completeTrace } from "../db/queries/traces.js";
import { AppError } from "../errors.js";
import { TRACE_STATUS_FOR_RUN } from "../glossary.js";
import type { TraceCursor } from "./record-step.js";

export type TerminationReason = "completed" | "step_failed" | "policy_block" | "budget_exhausted" | "user_abort" | "system_failure";

export interface RunEnding {
  status: "succeeded" | "failed" | "halted" | "cancelled";
  errorMessage: string | null;
  terminationReason: TerminationReason;
}

/**
 * Ends a run in one transaction: its terminal status (fenced by the epoch) and its trace's completion with the
 * finalization hashes. Either both are visible or neither is, so no terminal run has a `running` trace.
 */
export async function finalizeRun(db: Database, cursor: TraceCursor, ending: RunEnding): Promise<void> {
  const completedAt = new Date();
  await withTransaction(db, async (client) => {
    const ended = await endRun(client, {
      runId: cursor.runId,
      epoch: cursor.epoch,
      status: ending.status,
      errorMessage: ending.errorMessage,
      terminationReason: ending.terminationReason,
      completedAt,
    });
    if (!ended) {
      throw new AppError("LEASE_LOST", `run ${cursor.runId} is no longer held at epoch ${cursor.epoch}; it was not finalized`);
    }
    await completeTrace(client, {
      runId: cursor.runId,
      status: TRACE_STATUS_FOR_RUN[ending.status],
      completedAt,
      rootHash: cursor.chainHead,
      merkleRoot: null,
      treeSize: cursor.seq,
      metadata: ending.errorMessage === null ? {} : { error: ending.errorMessage.slice(0, 200) },
    });
  });
}
