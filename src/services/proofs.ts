import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { findRun } from "../db/queries/runs.js";
import { ownerDatabase } from "../db/tenant-scope.js";
import { AppError } from "../errors.js";
import { isoTime, isTerminal, type Trace } from "../glossary.js";
import { type StoredProof, proveStoredTrace } from "../proof/prove-stored.js";
import { loadStoredTrace, type StoredTrace, traceRecordOf, v1HeaderOf } from "../proof/stored-trace.js";
import { buildBundle, type ProofBundle } from "../trace/bundle.js";
import { leafHashOf } from "../trace/chain.js";
import { canonicalBytes } from "../trace/canonical-json.js";
import { loadKeyRing, loadVerifiers } from "../trace/key-store.js";
import { silentLogger } from "../logger.js";
import { settledInclusion } from "../tenant-log/run-inclusion.js";
import { sequencerDeps } from "../tenant-log/sequencer.js";
import { inclusionProof } from "../trace/merkle.js";
import { encodeVerifierKey } from "../trace/signed-note.js";
import { formatTlogProof } from "../trace/tlog-proof.js";
import { buildBundle as buildV1Bundle, type ProofBundle as V1ProofBundle } from "../trace/v1/bundle.js";
import { contentOf, isPruned } from "../trace/v1/step-content.js";
import type { ProofVerdict } from "../trace/verdict.js";
import { type VerdictJson, verdictJson } from "../trace/verify-bundle.js";
import { requireTenant } from "./agents.js";
import { proofKeys } from "./proof-keys.js";

/** Upstream's integrity configuration, kept: a hash chain, trusted within the system, stored in PostgreSQL. */
export const INTEGRITY_CONFIG = Object.freeze({ model: "HASH_CHAIN", trust_boundary: "SYSTEM", storage: "POSTGRES" } as const);

/**
 * A run's proof from the database: the verdict as `aos verify` gives it (with the run's proven facts), and upstream's
 * fields (integrity_model, trace_count, aos_traces, aos_trace_steps).
 */
export interface RunProof extends VerdictJson {
  run_id: string;
  integrity_model: typeof INTEGRITY_CONFIG.model;
  trace_count: number;
  /** Whether this host checked the write-time attestations (it holds the signing key). */
  attestations_checked: boolean;
  /** The signed checkpoint note, as stored. */
  checkpoint: string | null;
  verified_at: string;
  aos_traces: { trace_id: string; run_id: string; status: string; step_count: number; started_at: string | null; completed_at: string | null }[];
  aos_trace_steps: { seq: number; step_index: number; attempt: number; skill_name: string; status: string; duration_ms: number; cost_cents: number }[];
}

function traceSummary(trace: Trace, stepCount: number): RunProof["aos_traces"][number] {
  return {
    trace_id: trace.traceId,
    run_id: trace.runId,
    status: trace.status,
    step_count: stepCount,
    started_at: isoTime(trace.startedAt),
    completed_at: trace.completedAt && isoTime(trace.completedAt),
  };
}

const NO_VERDICT: ProofVerdict = {
  format: "aos-trace-v2",
  status: "UNSUPPORTED",
  failureReason: null,
  firstBadSeq: null,
  field: null,
  chainLength: 0,
  stepCount: 0,
  rootHash: null,
  merkleRoot: null,
  signatureValid: null,
  signedBy: [],
  signingKeys: [],
  checkpoint: null,
  prunedSeqs: [],
  notCovered: null,
};

/** A run's proof as readers get it, for a stored proof (or none: the run has no trace). */
function runProofOf(runId: string, stored: StoredTrace | undefined, proof: StoredProof | undefined, noTraceReason: string): RunProof {
  const verdict = proof?.verdict ?? { ...NO_VERDICT, failureReason: noTraceReason };
  return {
    ...verdictJson(verdict, runId, proof?.facts ?? null, proof?.tenantLog ?? null),
    run_id: runId,
    integrity_model: INTEGRITY_CONFIG.model,
    trace_count: stored === undefined ? 0 : 1,
    attestations_checked: proof?.attestationsChecked ?? false,
    checkpoint: stored?.checkpoint?.note ?? null,
    verified_at: new Date().toISOString(),
    aos_traces: stored === undefined ? [] : [traceSummary(stored.trace, stored.rows.length)],
    aos_trace_steps: (proof?.steps ?? []).map((step) => ({
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

/** Why a run of this tenant has no trace: its planning failed (it never executed), or there is no such run. */
async function noTraceReason(db: Database, tenantId: string, runId: string): Promise<string> {
  const run = await findRun(db.pool, tenantId, runId);
  if (run === undefined || run.plan !== null) return "No trace found for run";
  return "No trace found for run: its planning failed, so it never executed, and its recorded facts are not proven";
}

/**
 * The run proof (upstream's RunProofCoordinator), computed only from what is stored: the bytes hashed and checked
 * against the signed checkpoint, the attestations (on a host holding the signing key), every copy against the bytes
 * (docs/proofs.md). Another tenant's run reads exactly as a run with no trace.
 */
export async function getRunProof(db: Database, config: Config, tenantId: string, runId: string): Promise<RunProof> {
  const stored = await loadStoredTrace(db.pool, requireTenant(tenantId), runId);
  if (stored === undefined) return runProofOf(runId, undefined, undefined, await noTraceReason(db, tenantId, runId));
  return runProofOf(runId, stored, await proveStoredTrace(db.pool, stored, proofKeys(config)), "");
}

async function requireStoredTrace(db: Database, tenantId: string, runId: string): Promise<StoredTrace> {
  const stored = await loadStoredTrace(db.pool, requireTenant(tenantId), runId);
  if (stored === undefined) {
    // Worded as every other verb words an unknown run; a run of this tenant without a trace says why it has none.
    const found = await findRun(db.pool, requireTenant(tenantId), runId);
    const message =
      found === undefined
        ? `Run not found: ${runId}`
        : found.plan === null
          ? `run ${runId} has no trace: its planning failed, so it never executed`
          : `No trace found for run ${runId}`;
    throw new AppError("RUN_NOT_FOUND", message, { details: { run_id: runId } });
  }
  return stored;
}

/**
 * A run's proof bundle, for `aos verify` anywhere; the tenant's own runs only. A finished run's carries its place in
 * its tenant's log, integrated and covered by a signed checkpoint first if need be. A run from before format v2
 * gets a v1 bundle.
 */
export async function exportProofBundle(db: Database, config: Config, tenantId: string, runId: string): Promise<ProofBundle | V1ProofBundle> {
  const stored = await requireStoredTrace(db, tenantId, runId);
  const record = traceRecordOf(stored);
  if (record !== undefined) {
    if (record.runEnd === null) return buildBundle(record, null);
    const sequencer = sequencerDeps(ownerDatabase(db), config, loadKeyRing(config), silentLogger);
    return buildBundle(record, (await settledInclusion(db, sequencer, tenantId, runId)) ?? null);
  }
  const { run, trace, rows, checkpoint } = stored;
  return buildV1Bundle({
    header: v1HeaderOf(stored),
    runStatus: run.status,
    finished: isTerminal(run.status),
    traceStatus: trace.status,
    storedPlanHash: trace.planHash,
    storedRootHash: trace.rootHash,
    storedMerkleRoot: trace.merkleRoot,
    storedTreeSize: trace.treeSize,
    steps: rows.map((row) => row.copies),
    checkpointNote: checkpoint?.note ?? null,
    verificationKeys: loadVerifiers(config).map(encodeVerifierKey),
  });
}

/**
 * A C2SP tlog-proof that one leaf is in the run's signed trace: the leaf's bytes (a step header, or the run-end at
 * seq n), its index, the audit path and the checkpoint; it proves that leaf without revealing the others. Only a run
 * whose proof verifies gets one, so a proof is never issued for rows that no longer match their checkpoint.
 */
export async function proveStep(db: Database, config: Config, tenantId: string, runId: string, seq: number): Promise<string> {
  const stored = await requireStoredTrace(db, tenantId, runId);
  const proof = await proveStoredTrace(db.pool, stored, proofKeys(config));
  if (proof.verdict.status !== "VERIFIED") {
    throw new AppError("VALIDATION_ERROR", `run ${runId} does not verify (${proof.verdict.status}: ${proof.verdict.failureReason}); no step proof issued`);
  }
  const leaves = leafBytes(stored);
  const extra = leaves[seq];
  if (extra === undefined) {
    throw new AppError("STEP_NOT_FOUND", `run ${runId} has leaves seq 0 to ${leaves.length - 1} (the last is its run-end); there is no seq ${seq}`, {
      details: { run_id: runId, seq },
    });
  }
  if (extra === null) {
    // A v1 step proof carries the step's content so its leaf can be recomputed; a pruned v1 step has none left.
    throw new AppError("VALIDATION_ERROR", `step seq ${seq} of run ${runId} was pruned: its content is gone, so no step proof can be issued`);
  }
  const hashes = leaves.map((bytes, index) => Buffer.from(bytes === null ? (stored.rows[index]?.leafHash as string) : leafHashOf(bytes), "hex"));
  return formatTlogProof({ extra, index: seq, auditPath: inclusionProof(hashes, seq), checkpointNote: stored.checkpoint?.note as string });
}

/** The bytes of each leaf: v2 step headers then the run-end; v1 steps' canonical content (null once pruned). */
function leafBytes(stored: StoredTrace): (Buffer | null)[] {
  const record = traceRecordOf(stored);
  if (record === undefined) return stored.rows.map((row) => (isPruned(row.copies) ? null : canonicalBytes(contentOf(row.copies))));
  return [...stored.rows.map((row) => row.bytes?.header as Buffer), record.runEnd as Buffer];
}
