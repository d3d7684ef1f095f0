import type { Queryable } from "../db/database.js";
import { findCheckpoint, type StoredCheckpoint } from "../db/queries/checkpoints.js";
import { findRun } from "../db/queries/runs.js";
import { listStepRows, type StepRow } from "../db/queries/trace-steps.js";
import { findTraceForRun } from "../db/queries/traces.js";
import { isoTime, type Plan, type Run, type StepError, type Trace, type TraceStep } from "../glossary.js";
import type { AttestationKeys } from "../trace/attestation.js";
import { type Bytes, textOf } from "../trace/digest.js";
import { PAYLOADS, parseStepHeader, payloadHash, type StepHeader, traceStepOf } from "../trace/step-header.js";
import { planHash, type TraceHeader as V1TraceHeader } from "../trace/v1/step-hash.js";
import type { StoredAttestations, TraceRecord } from "../trace/verify-trace.js";

/** A run's trace as the database holds it: the run and trace rows, the step rows, the checkpoint row. */
export interface StoredTrace {
  run: Run;
  trace: Trace;
  rows: StepRow[];
  checkpoint: StoredCheckpoint | undefined;
}

/** Reads a run's stored trace within its tenant; undefined when the tenant has no such run or it has no trace. */
export async function loadStoredTrace(db: Queryable, tenantId: string, runId: string): Promise<StoredTrace | undefined> {
  const run = await findRun(db, tenantId, runId);
  return run && loadTraceOf(db, run);
}

/** The stored trace of a run already read (the worker has it from its claim). */
export async function loadTraceOf(db: Queryable, run: Run): Promise<StoredTrace | undefined> {
  const trace = await findTraceForRun(db, run.tenantId, run.id);
  if (trace === undefined) return undefined;
  const rows = await listStepRows(db, trace.traceId);
  const checkpoint = await findCheckpoint(db, run.tenantId, trace.traceId);
  return { run, trace, rows, checkpoint };
}

/** A format v1 trace's header, rebuilt from the run and trace rows as v1 hashed it (its plan hash from plan_json). */
export function v1HeaderOf({ run, trace }: StoredTrace): V1TraceHeader {
  return {
    trace_id: trace.traceId,
    run_id: run.id,
    tenant_id: run.tenantId,
    agent_id: run.agentId,
    plan_hash: planHash(run.plan as Plan | null),
    created_at: isoTime(trace.createdAt) ?? "",
  };
}

/** The bytes a format v2 proof checks; undefined for a v1 trace (or a v2 trace row missing its bytes). */
export function traceRecordOf(stored: StoredTrace): TraceRecord | undefined {
  const bytes = stored.trace.stored;
  if (bytes === null) return undefined;
  return {
    header: bytes.header,
    plan: bytes.plan,
    // A row without bytes (a v1 row in a v2 trace) reads as an empty header, which fails as not JSON, at its seq.
    steps: stored.rows.map((row) => ({
      ...(row.bytes ?? { header: "", params: null, outcome: null, error: null }),
      leafHash: row.leafHash,
      chainHash: row.chainHash,
    })),
    runEnd: bytes.runEnd,
    rootHash: stored.trace.rootHash,
    checkpoint: stored.checkpoint?.note ?? null,
  };
}

export function storedAttestations(stored: StoredTrace, keys: AttestationKeys): StoredAttestations {
  return { keys, header: stored.trace.stored?.attestation ?? null, steps: stored.rows.map((row) => row.attestation) };
}

/**
 * The steps as readers show them: each v2 row from its own bytes (header and payloads), so what is shown is what
 * was hashed; a row whose bytes cannot be read, and every v1 row, from its columns. The verdict beside them says
 * whether those bytes are the signed ones.
 */
export function traceStepsOf(stored: StoredTrace, checked: readonly StepHeader[] = []): TraceStep[] {
  // A header a verification has already parsed from these bytes is used as it is, not parsed again.
  return stored.rows.map((row, seq) => {
    const header = checked[seq];
    return header === undefined || row.bytes === null ? stepOfRow(row) : stepFromBytes(row, header);
  });
}

/** One row as readers show it: from its bytes when they read as a step header, else from its columns. */
export function stepOfRow(row: StepRow): TraceStep {
  if (row.bytes === null) return row.copies;
  const header = parseStepHeader(row.bytes.header);
  return header.ok ? stepFromBytes(row, header.value) : row.copies;
}

function stepFromBytes(row: StepRow, header: StepHeader): TraceStep {
  const bytes = row.bytes as NonNullable<StepRow["bytes"]>;
  return traceStepOf(header, {
    traceId: row.copies.traceId,
    params: (parsedPayload(bytes.params) ?? {}) as Record<string, unknown>,
    outcomeData: parsedPayload(bytes.outcome),
    error: parsedPayload(bytes.error) as StepError | null,
    leafHash: row.leafHash,
    chainHash: row.chainHash,
    // Pruned is what the bytes say (a payload its header commits to is gone), not what the unproven column says;
    // withheld with no pruned_at reads as pruned at an unknown time.
    prunedAt: withheld(header, bytes) ? (row.prunedAt ?? new Date(Number.NaN)) : null,
  });
}

/** Whether a payload the step header commits to (a non-null hash) is missing from the row. */
function withheld(header: StepHeader, bytes: NonNullable<StepRow["bytes"]>): boolean {
  return PAYLOADS.some((payload) => payloadHash(header, payload) !== null && bytes[payload] === null);
}

/** A payload's value; null when it is absent, pruned, or not JSON (a verdict then says the bytes are wrong). */
function parsedPayload(bytes: Bytes | null): unknown {
  const text = bytes === null ? undefined : textOf(bytes);
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
