import type { Database } from "../db/database.js";
import { endRunWithRecords } from "../db/queries/run-end.js";
import { AppError } from "../errors.js";
import { type Run, TRACE_STATUS_FOR_RUN, type TraceStep } from "../glossary.js";
import { formatCheckpoint, signCheckpoint } from "../trace/checkpoint.js";
import { merkleRoot } from "../trace/merkle.js";
import type { NoteSigner } from "../trace/signed-note.js";
import type { TraceCursor } from "./record-step.js";
import { buildRunRecords } from "./run-records.js";

export type TerminationReason =
  | "completed"
  | "step_failed"
  | "plan_invalid"
  | "policy_block"
  | "budget_exhausted"
  | "user_abort"
  | "system_failure";

export interface RunEnding {
  status: "succeeded" | "failed" | "halted" | "cancelled";
  errorMessage: string | null;
  terminationReason: TerminationReason;
}

/** The checkpoint origin names the log: one per run, under the signing key's name. */
export function checkpointOrigin(keyName: string, runId: string): string {
  return `${keyName}/run/${runId}`;
}

/**
 * Ends a run in one statement (endRunWithRecords): its terminal status (fenced by the epoch), its trace's
 * completion with the finalization hashes, the signed checkpoint over them, and the run's records (incident,
 * policy evaluation, integrity evidence, provenance, memories, LLM record). All are visible together or not at
 * all: no terminal run has a `running` trace, an unsigned one, or a missing record, and a failed record write
 * fails the whole of it.
 */
export async function finalizeRun(
  db: Database,
  signer: NoteSigner,
  cursor: TraceCursor,
  ending: RunEnding,
  recorded: { run: Run; steps: readonly TraceStep[] },
): Promise<void> {
  const completedAt = new Date();
  const root = merkleRoot(cursor.leafHashes.map((leaf) => Buffer.from(leaf, "hex"))).toString("hex");
  const origin = checkpointOrigin(signer.name, cursor.runId);
  const body = formatCheckpoint({ origin, treeSize: cursor.seq, merkleRoot: Buffer.from(root, "hex"), chainHead: cursor.chainHead });
  const note = signCheckpoint(body, signer);
  const ended = await endRunWithRecords(db.pool, {
    runId: cursor.runId,
    epoch: cursor.epoch,
    status: ending.status,
    errorMessage: ending.errorMessage,
    terminationReason: ending.terminationReason,
    completedAt,
    trace: {
      status: TRACE_STATUS_FOR_RUN[ending.status],
      rootHash: cursor.chainHead,
      merkleRoot: root,
      treeSize: cursor.seq,
      metadata: ending.errorMessage === null ? {} : { error: ending.errorMessage.slice(0, 200) },
    },
    checkpoint: {
      traceId: cursor.traceId,
      runId: cursor.runId,
      tenantId: cursor.tenantId,
      origin,
      treeSize: cursor.seq,
      merkleRoot: root,
      chainHead: cursor.chainHead,
      keyName: signer.name,
      keyId: signer.keyId,
      note,
    },
    records: buildRunRecords({ run: recorded.run, ending, steps: recorded.steps, rootHash: cursor.chainHead }),
  });
  if (!ended) {
    throw new AppError("LEASE_LOST", `run ${cursor.runId} is no longer held at epoch ${cursor.epoch}; it was not finalized`);
  }
}
