import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { findCheckpoint } from "../db/queries/checkpoints.js";
import { findRun } from "../db/queries/runs.js";
import { listTraceSteps } from "../db/queries/trace-steps.js";
import { findTraceForRun } from "../db/queries/traces.js";
import { isTerminal, type Run, type Trace, type TraceStep } from "../glossary.js";
import { buildBundle, type ProofBundle } from "../trace/bundle.js";
import { canonicalBytes } from "../trace/canonical-json.js";
import { inclusionProof } from "../trace/merkle.js";
import { contentOf, isPruned } from "../trace/step-content.js";
import { formatTlogProof } from "../trace/tlog-proof.js";
import { loadVerifiers } from "../trace/key-store.js";
import { encodeVerifierKey } from "../trace/signed-note.js";
import { planHash, type TraceHeader } from "../trace/step-hash.js";
import { type TraceEvidence, type VerificationStatus, verifyTrace } from "../trace/verify-trace.js";
import { AppError } from "../errors.js";
import { requireTenant } from "./agents.js";

/** Upstream's integrity configuration, kept: a hash chain, trusted within the system, stored in PostgreSQL. */
export const INTEGRITY_CONFIG = Object.freeze({ model: "HASH_CHAIN", trust_boundary: "SYSTEM", storage: "POSTGRES" } as const);

export interface RunProof {
  run_id: string;
  integrity_model: typeof INTEGRITY_CONFIG.model;
  verification_status: VerificationStatus | "UNSUPPORTED";
  chain_length: number;
  root_hash: string | null;
  merkle_root: string | null;
  trace_count: number;
  step_count: number;
  failure_reason: string | null;
  first_bad_seq: number | null;
  /** Steps whose payload `aos prune` removed: their leaves were checked, their content could not be re-hashed. */
  pruned_steps: number;
  /** The signed checkpoint note, as stored. */
  checkpoint: string | null;
  signature_valid: boolean | null;
  signed_by: string[];
  verified_at: string;
  aos_traces: { trace_id: string; run_id: string; status: string; step_count: number; started_at: string; completed_at: string | null }[];
  aos_trace_steps: {
    seq: number;
    step_index: number;
    attempt: number;
    skill_name: string;
    status: string;
    duration_ms: number;
    cost_cents: number;
  }[];
}

function unsupported(runId: string, reason: string, trace?: Trace): RunProof {
  return {
    run_id: runId,
    integrity_model: INTEGRITY_CONFIG.model,
    verification_status: "UNSUPPORTED",
    chain_length: 0,
    root_hash: null,
    merkle_root: null,
    trace_count: trace === undefined ? 0 : 1,
    step_count: 0,
    failure_reason: reason,
    first_bad_seq: null,
    pruned_steps: 0,
    checkpoint: null,
    signature_valid: null,
    signed_by: [],
    verified_at: new Date().toISOString(),
    aos_traces: trace === undefined ? [] : [traceSummary(trace, 0)],
    aos_trace_steps: [],
  };
}

function traceSummary(trace: Trace, stepCount: number): RunProof["aos_traces"][number] {
  return {
    trace_id: trace.traceId,
    run_id: trace.runId,
    status: trace.status,
    step_count: stepCount,
    started_at: trace.startedAt.toISOString(),
    completed_at: trace.completedAt?.toISOString() ?? null,
  };
}

/** The trace header as the run and trace rows state it now; the plan hash is recomputed from the stored plan. */
export function headerOf(run: Run, trace: Trace): TraceHeader {
  return {
    trace_id: trace.traceId,
    run_id: run.id,
    tenant_id: run.tenantId,
    agent_id: run.agentId,
    plan_hash: planHash(run.plan),
    created_at: trace.createdAt.toISOString(),
  };
}

export interface ProofMaterial {
  run: Run;
  trace: Trace;
  steps: TraceStep[];
  checkpointNote: string | null;
}

/** Reads what a proof needs, within the tenant; undefined when the tenant has no such run or it has no trace. */
export async function loadProofMaterial(db: Database, tenantId: string, runId: string): Promise<ProofMaterial | undefined> {
  const run = await findRun(db.pool, requireTenant(tenantId), runId);
  const trace = run && (await findTraceForRun(db.pool, run.tenantId, run.id));
  if (run === undefined || trace === undefined) return undefined;
  const steps = await listTraceSteps(db.pool, trace.traceId);
  const checkpoint = await findCheckpoint(db.pool, run.tenantId, trace.traceId);
  return { run, trace, steps, checkpointNote: checkpoint?.note ?? null };
}

export function evidenceOf(material: ProofMaterial): TraceEvidence {
  const { run, trace, steps } = material;
  return {
    header: headerOf(run, trace),
    storedPlanHash: trace.planHash,
    steps,
    finished: isTerminal(run.status),
    storedRootHash: trace.rootHash,
    storedMerkleRoot: trace.merkleRoot,
    storedTreeSize: trace.treeSize,
    checkpointNote: material.checkpointNote,
  };
}

/**
 * The run proof (upstream's RunProofCoordinator), computed only from what is stored: every leaf recomputed from
 * its row, the chain linked from the header, the Merkle root and chain head compared with the signed checkpoint.
 * Another tenant's run reads exactly as a run with no trace.
 */
export async function getRunProof(db: Database, config: Config, tenantId: string, runId: string): Promise<RunProof> {
  const material = await loadProofMaterial(db, tenantId, runId);
  if (material === undefined) return unsupported(runId, "No trace found for run");
  if (material.steps.length === 0) return unsupported(runId, "No steps to verify", material.trace);
  const verdict = verifyTrace(evidenceOf(material), loadVerifiers(config));
  return {
    run_id: runId,
    integrity_model: INTEGRITY_CONFIG.model,
    verification_status: verdict.status,
    chain_length: verdict.chainLength,
    root_hash: verdict.rootHash,
    merkle_root: verdict.merkleRoot,
    trace_count: 1,
    step_count: material.steps.length,
    failure_reason: verdict.failureReason,
    first_bad_seq: verdict.firstBadSeq,
    pruned_steps: verdict.prunedSteps,
    checkpoint: material.checkpointNote,
    signature_valid: verdict.signatureValid,
    signed_by: verdict.signedBy,
    verified_at: new Date().toISOString(),
    aos_traces: [traceSummary(material.trace, material.steps.length)],
    aos_trace_steps: material.steps.map((step) => ({
      seq: step.seq,
      step_index: step.stepIndex,
      attempt: step.attempt,
      skill_name: step.skillName,
      status: step.status,
      duration_ms: step.durationMs,
      cost_cents: step.costCents,
    })),
  };
}

/** A run's proof bundle, for `aos verify` anywhere; the tenant's own runs only. */
export async function exportProofBundle(db: Database, config: Config, tenantId: string, runId: string): Promise<ProofBundle> {
  const material = await loadProofMaterial(db, tenantId, runId);
  if (material === undefined) throw new AppError("RUN_NOT_FOUND", `No trace found for run ${runId}`, { details: { run_id: runId } });
  const evidence = evidenceOf(material);
  return buildBundle({
    header: evidence.header,
    runStatus: material.run.status,
    finished: evidence.finished,
    traceStatus: material.trace.status,
    storedPlanHash: evidence.storedPlanHash,
    storedRootHash: evidence.storedRootHash,
    storedMerkleRoot: evidence.storedMerkleRoot,
    storedTreeSize: evidence.storedTreeSize,
    steps: material.steps,
    checkpointNote: material.checkpointNote,
    verificationKeys: loadVerifiers(config).map(encodeVerifierKey),
  });
}

/**
 * A C2SP tlog-proof that one step is in the run's signed trace: the step's canonical content, its leaf index,
 * the audit path and the checkpoint; it proves that step without revealing the others. Only a run whose proof
 * verifies gets one, so a proof is never issued for rows that no longer match their checkpoint.
 */
export async function proveStep(db: Database, config: Config, tenantId: string, runId: string, seq: number): Promise<string> {
  const proof = await getRunProof(db, config, tenantId, runId);
  if (proof.verification_status === "UNSUPPORTED") throw new AppError("RUN_NOT_FOUND", `${proof.failure_reason}: ${runId}`);
  if (proof.verification_status !== "VERIFIED") {
    throw new AppError("VALIDATION_ERROR", `run ${runId} does not verify (${proof.verification_status}: ${proof.failure_reason}); no step proof issued`);
  }
  const material = (await loadProofMaterial(db, tenantId, runId)) as ProofMaterial;
  const step = material.steps[seq];
  if (step === undefined) {
    throw new AppError("VALIDATION_ERROR", `run ${runId} has steps seq 0 to ${material.steps.length - 1}; there is no seq ${seq}`);
  }
  if (isPruned(step)) {
    // A step proof carries the step's content so its leaf can be recomputed; a pruned step has none left.
    throw new AppError("VALIDATION_ERROR", `step seq ${seq} of run ${runId} was pruned: its content is gone, so no step proof can be issued`);
  }
  const leaves = material.steps.map((row) => Buffer.from(row.leafHash, "hex"));
  return formatTlogProof({
    extra: canonicalBytes(contentOf(step)),
    index: seq,
    auditPath: inclusionProof(leaves, seq),
    checkpointNote: material.checkpointNote as string,
  });
}
