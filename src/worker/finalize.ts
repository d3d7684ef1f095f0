import type { Queryable } from "../db/database.js";
import { endRunWithRecords } from "../db/queries/run-end.js";
import { AppError } from "../errors.js";
import { type Run, type RunEnding, TRACE_STATUS_FOR_RUN, type TraceStep } from "../glossary.js";
import { buildRunRecords } from "../records/run-records.js";
import { chainNext, leafHashOf } from "../trace/chain.js";
import { checkpointOrigin, formatCheckpoint, signCheckpoint } from "../trace/checkpoint.js";
import { sha256Hex } from "../trace/digest.js";
import { merkleRootHex } from "../trace/merkle.js";
import { attest } from "../trace/attestation.js";
import type { KeyRing } from "../trace/key-store.js";
import { type RunEnd, runCostCents, sharedWithHeader } from "../trace/run-end.js";
import { encodeTenantLogEntry } from "../trace/tenant-log-entry.js";
import { encodeRecord } from "../trace/trace-header.js";
import type { TraceCursor } from "./record-step.js";

/** The run-end leaf (docs/proofs.md, "Run-end leaf"): the run row's facts as this ending leaves them. */
export function buildRunEnd(cursor: TraceCursor, run: Run, ending: RunEnding, steps: readonly TraceStep[], completedAt: Date): RunEnd {
  const { header } = cursor;
  return {
    kind: "run_end",
    seq: cursor.seq,
    step_count: cursor.seq,
    ...sharedWithHeader(header),
    goal_sha256: sha256Hex(header.goal),
    status: ending.status,
    termination_reason: ending.terminationReason,
    error_message: ending.errorMessage,
    cost_cents: runCostCents(run.plan, steps),
    tokens: steps.reduce((sum, step) => sum + step.tokens, 0),
    attempts: run.attempts,
    started_at: run.startedAt?.toISOString() ?? null,
    completed_at: completedAt.toISOString(),
    duration_ms: run.startedAt === null ? null : completedAt.getTime() - run.startedAt.getTime(),
  };
}

/**
 * Ends a run in one statement (endRunWithRecords): its terminal status (fenced by the epoch), the run-end leaf
 * appended to its trace, the trace's completion with the finalization hashes, the signed checkpoint over them, and
 * the run's records (incident, policy evaluation, integrity evidence, provenance, memories, LLM record), and its
 * entry queued for the tenant's log, attested so the sequencer takes no entry this worker did not write. All are
 * visible together or not at all. What is signed is this worker's cursor — the prefix it verified and the rows it
 * wrote itself — never hashes read back from the database.
 */
export async function finalizeRun(
  db: Queryable,
  keys: Pick<KeyRing, "signer" | "attestation">,
  cursor: TraceCursor,
  ending: RunEnding,
  recorded: { run: Run; steps: readonly TraceStep[] },
): Promise<void> {
  const completedAt = new Date();
  const runEnd = buildRunEnd(cursor, recorded.run, ending, recorded.steps, completedAt);
  const runEndBytes = encodeRecord(runEnd);
  const endLeaf = leafHashOf(runEndBytes);
  const rootHash = chainNext(cursor.chainHead, endLeaf);
  const leaves = [...cursor.leafHashes, endLeaf];
  const merkleRoot = merkleRootHex(leaves);
  const { signer } = keys;
  const origin = checkpointOrigin(signer.name, cursor.runId);
  const logEntry = encodeTenantLogEntry({
    kind: "tenant_log_entry",
    format: "aos-trace-v2",
    tenant_id: cursor.tenantId,
    run_id: cursor.runId,
    status: ending.status,
    completed_at: runEnd.completed_at,
    tree_size: leaves.length,
    merkle_root: merkleRoot,
    chain_head: rootHash,
  });
  const body = formatCheckpoint({ format: "aos-trace-v2", origin, treeSize: leaves.length, merkleRoot: Buffer.from(merkleRoot, "hex"), chainHead: rootHash });
  const ended = await endRunWithRecords(db, {
    runId: cursor.runId,
    epoch: cursor.epoch,
    status: ending.status,
    errorMessage: ending.errorMessage,
    terminationReason: ending.terminationReason,
    completedAt,
    durationMs: runEnd.duration_ms,
    traceStatus: TRACE_STATUS_FOR_RUN[ending.status],
    signed: {
      runEnd: runEndBytes,
      rootHash,
      merkleRoot,
      treeSize: leaves.length,
      checkpoint: {
        traceId: cursor.traceId,
        runId: cursor.runId,
        tenantId: cursor.tenantId,
        origin,
        treeSize: leaves.length,
        merkleRoot,
        chainHead: rootHash,
        keyName: signer.name,
        keyId: signer.keyId,
        note: signCheckpoint(body, signer),
      },
      logEntry: { entry: logEntry, attestation: attest(keys.attestation.current, cursor.runId, "tenant-log", sha256Hex(logEntry)) },
    },
    records: buildRunRecords({ run: recorded.run, ending, steps: recorded.steps, rootHash }),
  });
  if (!ended) {
    throw new AppError("LEASE_LOST", `run ${cursor.runId} is no longer held at epoch ${cursor.epoch}; it was not finalized`);
  }
}

/**
 * Ends a run whose stored trace failed its integrity check (docs/proofs.md, "Write-time attestations"): failed, with
 * termination reason `tampered`, a CRITICAL incident, and nothing signed: no run-end, no checkpoint. Fenced by the
 * epoch like any ending. The caller took the run (a claim or a take), so the rows it found are not extended.
 */
export async function endTamperedRun(db: Queryable, run: Run, reason: string): Promise<RunEnding> {
  const completedAt = new Date();
  const ending: RunEnding = { status: "failed", errorMessage: `Trace integrity check failed: ${reason}`, terminationReason: "tampered" };
  const unsignedReason = "the trace failed its integrity check, so nothing was signed";
  const ended = await endRunWithRecords(db, {
    runId: run.id,
    epoch: run.epoch,
    status: ending.status,
    errorMessage: ending.errorMessage,
    terminationReason: ending.terminationReason,
    completedAt,
    durationMs: durationBetween(run.startedAt, completedAt),
    traceStatus: "failed",
    signed: null,
    // The row's times may be anything a database writer put there; the records count from when it was ended.
    records: buildRunRecords({ run: { ...run, createdAt: countable(run.createdAt) ?? completedAt }, ending, steps: [], rootHash: null, unsignedReason }),
  });
  if (!ended) throw new AppError("LEASE_LOST", `run ${run.id} is no longer held at epoch ${run.epoch}; it was not ended`);
  return ending;
}

/**
 * A tampered run's duration from its row's start time, which may be anything a database writer put there: none
 * unless it is a time this process can count from.
 */
function durationBetween(startedAt: Date | null, completedAt: Date): number | null {
  const ms = completedAt.getTime() - (countable(startedAt)?.getTime() ?? Number.NaN);
  return ms >= 0 ? ms : null;
}

/** A time read from a row, if it is one (a timestamp past JavaScript's range reads as an invalid Date). */
function countable(time: Date | null): Date | undefined {
  return time !== null && Number.isFinite(time.getTime()) ? time : undefined;
}
