import type { Database, Queryable } from "../db/database.js";
import { ownerDatabase } from "../db/tenant-scope.js";
import { checkpointTimestamp, cosignaturesOf, latestTenantCheckpoint, type StoredTenantCheckpoint } from "../db/queries/tenant-checkpoints.js";
import { findLoggedEntry, isEntryPending, type LoggedEntry, readNodes, readTreeHead } from "../db/queries/tenant-log.js";
import { leafHashOf } from "../trace/merkle.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { KeyRing } from "../trace/key-store.js";
import type { NoteVerifier } from "../trace/signed-note.js";
import type { TenantLogEntry } from "../trace/tenant-log-entry.js";
import { textOf } from "../trace/digest.js";
import { checkTenantLogProof, type TenantLogProof, type TenantLogVerdict } from "../trace/verify-tenant-log.js";
import { type CheckpointCadence, integrateTenantLog, type SignedCheckpoint } from "./integrate.js";
import { inclusionProofFromStore } from "./node-store.js";

/** A checkpoint note with the witnesses' cosignature lines after the log's own signature, as verifiers read it. */
export async function cosignedNote(db: Queryable, tenantId: string, checkpoint: StoredTenantCheckpoint): Promise<string> {
  const lines = await cosignaturesOf(db, tenantId, checkpoint.treeSize);
  return checkpoint.note + lines.map((row) => row.line).join("");
}

/**
 * A run's place in its tenant's log from the stored tree, against the given checkpoint (which must cover it), as the
 * log key signed it: what the database's own proof checks. A bundle adds the cosignatures and the token (bundleInclusion).
 */
async function inclusionOf(db: Queryable, tenantId: string, entry: LoggedEntry, checkpoint: StoredTenantCheckpoint): Promise<TenantLogProof> {
  const text = textOf(entry.entry);
  if (text === undefined) throw new AppError("TRACE_TAMPERED", `the tenant log's entry for run ${entry.runId} is not UTF-8: it was changed in the database (run \`aos audit\`)`);
  const path = await inclusionProofFromStore(db, tenantId, entry.index, checkpoint.treeSize);
  return { index: entry.index, entry: text, inclusion_proof: path.map((hash) => hash.toString("hex")), checkpoint: checkpoint.note, timestamp: null };
}

/** The inclusion a bundle carries: the checkpoint with its witnesses' cosignatures, and its TSA token if it has one. */
async function bundleInclusion(db: Queryable, tenantId: string, entry: LoggedEntry, checkpoint: StoredTenantCheckpoint): Promise<TenantLogProof> {
  const token = await checkpointTimestamp(db, tenantId, checkpoint.treeSize);
  return {
    ...(await inclusionOf(db, tenantId, entry, checkpoint)),
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
    if (entry !== undefined && checkpoint !== undefined && checkpoint.treeSize > entry.index) return bundleInclusion(db.pool, tenantId, entry, checkpoint);
    if (entry === undefined && !(await isEntryPending(db.pool, tenantId, runId))) return undefined;
    // Integrate (and sign) now, as the system does for the tenant (a request's scope may only read the log); a
    // sequencer elsewhere holding the lock is doing just that, so look again shortly.
    const result = await integrateTenantLog(ownerDatabase(db), deps, tenantId, { forceCheckpoint: true });
    if (result.status === "done" && result.signed !== undefined) await deps.onCheckpoint?.(result.signed);
    if (result.status === "busy") await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS));
  }
  throw new AppError("DATABASE_UNAVAILABLE", `run ${runId}'s tenant log stayed busy for ${(SETTLE_ATTEMPTS * SETTLE_PAUSE_MS) / 1000} s; try again`, { retryable: true });
}

export type StoredInclusion =
  | { ok: true; verdict: TenantLogVerdict | null }
  | { ok: false; status: "TAMPERED" | "UNTRUSTED_KEY" | "INCOMPLETE"; field: string; reason: string };

/**
 * How long a finished run's entry may wait for its tenant's log — queued, or integrated but under no checkpoint —
 * and still count as on its way: a sequencer integrates within a second and signs within the cadence's interval.
 * Past it the log is not taking the run in (no worker runs a sequencer, or something blocks it: `aos audit` says),
 * and a proof cannot say the run is in its log.
 */
export const PENDING_GRACE_MS = 60_000;

/**
 * Where a verified, finished run stands in its tenant's log in the database (docs/proofs.md, "In the database"):
 * its entry, checked like a bundle's against the signed checkpoint that covers it; on its way (queued, or integrated
 * after the last checkpoint) for at most PENDING_GRACE_MS after the run ended, else INCOMPLETE; or missing, which is
 * TAMPERED — its entry was deleted, never queued, or the run ended before this database had tenant logs (then
 * `aos log backfill` logs it, once it verifies). No database row can exempt a run: only its entry can place it.
 */
export async function storedInclusion(db: Queryable, expected: TenantLogEntry, runSignerName: string, trusted: readonly NoteVerifier[]): Promise<StoredInclusion> {
  const { tenant_id: tenantId, run_id: runId } = expected;
  const entry = await findLoggedEntry(db, tenantId, runId);
  const waited = Date.now() - new Date(expected.completed_at).getTime();
  const pending = (index: number | null): StoredInclusion =>
    waited <= PENDING_GRACE_MS
      ? { ok: true, verdict: { state: "pending", index, tree_size: null, origin: null, witnessed_by: [], timestamp: null } }
      : {
          ok: false,
          status: "INCOMPLETE",
          field: index === null ? "aos_tenant_log_pending" : "aos_tenant_checkpoints",
          reason: `the run ended ${Math.round(waited / 1000)} s ago and its tenant's log has not taken it in (${index === null ? "its entry is still queued" : "no checkpoint covers its entry"}): no worker is integrating the log, or something blocks it (\`aos audit\` says)`,
        };
  if (entry === undefined) {
    if (await isEntryPending(db, tenantId, runId)) return pending(null);
    const reason = "the run has ended, but its tenant's log holds no entry for it: the entry was deleted or never queued (a run that ended before this database had tenant logs is logged by `aos log backfill`)";
    return { ok: false, status: "TAMPERED", field: "aos_tenant_log_entries", reason };
  }
  const checkpoint = await latestTenantCheckpoint(db, tenantId);
  if (checkpoint === undefined || checkpoint.treeSize <= entry.index) {
    // Integrated after the last checkpoint: the entry must still be where the log put it, as its stored leaf.
    const head = await readTreeHead(db, tenantId);
    const [leaf] = entry.index < head.treeSize ? await readNodes(db, tenantId, [{ level: 0, index: entry.index }]) : [];
    if (leaf === undefined || !leaf.hash.equals(leafHashOf(entry.entry))) {
      return { ok: false, status: "TAMPERED", field: "aos_tenant_log_entries.idx", reason: `the tenant log has no leaf ${entry.index} holding this run's entry: the entry was moved or changed` };
    }
    return pending(entry.index);
  }
  const proof = await inclusionOf(db, tenantId, entry, checkpoint);
  const check = checkTenantLogProof(proof, expected, runSignerName, trusted);
  if (!check.ok) return { ok: false, status: check.status, field: check.field.replace(/^tenant_log\.(entry|index|inclusion_proof)/, "aos_tenant_log_entries.$1").replace(/^tenant_log\.checkpoint/, "aos_tenant_checkpoints.note"), reason: check.reason };
  return { ok: true, verdict: check.verdict };
}
