import type { Database, Queryable } from "../db/database.js";
import { checkpointTimestamp, cosignaturesOf, latestTenantCheckpoint, type StoredTenantCheckpoint } from "../db/queries/tenant-checkpoints.js";
import { findLoggedEntry, isEntryPending, type LoggedEntry } from "../db/queries/tenant-log.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { KeyRing } from "../trace/key-store.js";
import { entryText, type TenantLogProof } from "../trace/verify-tenant-log.js";
import { type CheckpointCadence, integrateTenantLog, type SignedCheckpoint } from "./integrate.js";
import { inclusionProofFromStore } from "./node-store.js";

/** A checkpoint note with the witnesses' cosignature lines after the log's own signature, as verifiers read it. */
export async function cosignedNote(db: Queryable, tenantId: string, checkpoint: StoredTenantCheckpoint): Promise<string> {
  const lines = await cosignaturesOf(db, tenantId, checkpoint.treeSize);
  return checkpoint.note + lines.map((row) => row.line).join("");
}

/** A run's place in its tenant's log from the stored tree, against the given checkpoint (which must cover it). */
export async function inclusionOf(db: Queryable, tenantId: string, entry: LoggedEntry, checkpoint: StoredTenantCheckpoint): Promise<TenantLogProof> {
  const text = entryText(entry.entry);
  if (text === undefined) throw new AppError("TRACE_TAMPERED", `the tenant log's entry for run ${entry.runId} is not UTF-8: it was changed in the database (run \`aos audit\`)`);
  const path = await inclusionProofFromStore(db, tenantId, entry.index, checkpoint.treeSize);
  const token = await checkpointTimestamp(db, tenantId, checkpoint.treeSize);
  return {
    index: entry.index,
    entry: text,
    inclusion_proof: path.map((hash) => hash.toString("hex")),
    checkpoint: await cosignedNote(db, tenantId, checkpoint),
    timestamp: token === undefined ? null : token.toString("base64"),
  };
}

const SETTLE_ATTEMPTS = 50;
const SETTLE_PAUSE_MS = 100;

/**
 * The run's tenant-log proof for a bundle, integrating it and signing a checkpoint that covers it first if the
 * cadence has not yet (an export should not wait for the next checkpoint). Undefined when the run has no entry,
 * logged or queued: a finished run then verifies TAMPERED, which is the truth about it.
 */
export async function settledInclusion(
  db: Database,
  deps: { keys: KeyRing; log: Logger; cadence: CheckpointCadence; onCheckpoint?: (signed: SignedCheckpoint) => Promise<void> },
  tenantId: string,
  runId: string,
): Promise<TenantLogProof | undefined> {
  for (let attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
    const entry = await findLoggedEntry(db.pool, tenantId, runId);
    const checkpoint = await latestTenantCheckpoint(db.pool, tenantId);
    if (entry !== undefined && checkpoint !== undefined && checkpoint.treeSize > entry.index) return inclusionOf(db.pool, tenantId, entry, checkpoint);
    if (entry === undefined && !(await isEntryPending(db.pool, tenantId, runId))) return undefined;
    // Integrate (and sign) now; a sequencer elsewhere holding the lock is doing just that, so look again shortly.
    const result = await integrateTenantLog(db, deps, tenantId, { forceCheckpoint: true });
    if (result.status === "done" && result.signed !== undefined) await deps.onCheckpoint?.(result.signed);
    if (result.status === "busy") await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS));
  }
  throw new AppError("DATABASE_UNAVAILABLE", `run ${runId}'s tenant log stayed busy for ${(SETTLE_ATTEMPTS * SETTLE_PAUSE_MS) / 1000} s; try again`, { retryable: true });
}
