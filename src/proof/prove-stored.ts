import type { Queryable } from "../db/database.js";
import { findCopyDisagreements } from "../db/queries/trace-copies.js";
import { isTerminal, type TraceStep } from "../glossary.js";
import type { AttestationKeys } from "../trace/attestation.js";
import { provenFacts, type RunFacts } from "../trace/run-facts.js";
import type { NoteVerifier } from "../trace/signed-note.js";
import { storedInclusion } from "../tenant-log/run-inclusion.js";
import { verifyTrace as verifyV1Trace } from "../trace/v1/verify-trace.js";
import { expectedEntry, type TenantLogVerdict } from "../trace/verify-tenant-log.js";
import type { ProofVerdict } from "../trace/verdict.js";
import { type CheckedTrace, verifyTraceRecord } from "../trace/verify-trace.js";
import { type StoredTrace, storedAttestations, traceRecordOf, traceStepsOf, v1HeaderOf } from "./stored-trace.js";

/** The keys a proof from the database is checked with: trusted verification keys, and attestation keys if held. */
export interface ProofKeys {
  verifiers: readonly NoteVerifier[];
  /** Present on a host holding the signing key: attestations are then checked too. */
  attestation: AttestationKeys | undefined;
}

/** A stored run's proof, with what readers show beside it: the run's proven facts and its steps from their bytes. */
export interface StoredProof {
  verdict: ProofVerdict;
  facts: RunFacts | null;
  steps: TraceStep[];
  /** Whether the attestations were checked (this host holds the attestation keys). */
  attestationsChecked: boolean;
  /** A finished run's place in its tenant's log, once the rest verified. */
  tenantLog: TenantLogVerdict | null;
}

/**
 * Verifies a run from the database (docs/proofs.md, "In the database"): the bytes as a bundle's would be, then
 * what only the database has — the stored hash columns, the run's cursor, the attestations (when this host holds
 * the key), and every queryable copy against the bytes. The first disagreement is TAMPERED, naming its column.
 */
export async function proveStoredTrace(db: Queryable, stored: StoredTrace, keys: ProofKeys, options: { tenantLog?: boolean } = {}): Promise<StoredProof> {
  const record = traceRecordOf(stored);
  if (stored.trace.format === "aos-trace-v1" || record === undefined) {
    return { verdict: proveV1(stored, keys.verifiers), facts: null, steps: traceStepsOf(stored), attestationsChecked: false, tenantLog: null };
  }
  const attestations = keys.attestation && storedAttestations(stored, keys.attestation);
  const checked = verifyTraceRecord(record, keys.verifiers, attestations);
  // The headers that checked are shown as parsed; a row past the first failure is read on its own.
  const steps = traceStepsOf(stored, checked.steps);
  const proof = { facts: provenFacts(checked), steps, attestationsChecked: attestations !== undefined, tenantLog: null };
  const { verdict } = checked;
  if (verdict.status === "TAMPERED") return { ...proof, verdict };
  const problem = rowProblem(stored, checked);
  if (problem !== undefined) return { ...proof, verdict: tampered(verdict, problem) };
  // Copies are compared only with bytes known to be the ones written: signed, or attested.
  const authenticated = verdict.status === "VERIFIED" || (verdict.status === "INCOMPLETE" && attestations !== undefined);
  if (!authenticated) return { ...proof, verdict };
  const [differs] = await findCopyDisagreements(db, stored.trace.traceId);
  if (differs !== undefined) {
    const where = differs.seq === null ? "" : ` at seq ${differs.seq}`;
    const reason = `${differs.table}.${differs.column}${where} differs from what the trace's bytes record (the database copy was changed)`;
    return { ...proof, verdict: tampered(verdict, { seq: differs.seq, field: `${differs.table}.${differs.column}`, reason }) };
  }
  if (verdict.status !== "VERIFIED" || checked.runEnd === undefined || options.tenantLog === false) return { ...proof, verdict };
  const expected = expectedEntry(checked.runEnd, verdict.checkpoint?.treeSize ?? 0, verdict.merkleRoot ?? "", verdict.rootHash ?? "");
  const logged = await storedInclusion(db, expected, (verdict.signedBy[0] ?? "").split("+")[0] as string, keys.verifiers);
  if (!logged.ok) return { ...proof, verdict: { ...tampered(verdict, { seq: null, field: logged.field, reason: logged.reason }), status: logged.status } };
  return { ...proof, tenantLog: logged.verdict, verdict };
}

interface RowProblem {
  seq: number | null;
  field: string;
  reason: string;
}

function tampered(verdict: ProofVerdict, problem: RowProblem): ProofVerdict {
  return { ...verdict, status: "TAMPERED", failureReason: problem.reason, firstBadSeq: problem.seq, field: problem.field };
}

/**
 * What the run and trace rows must say of a trace whose bytes checked: whether it ended, its cursor, and the
 * finalization columns stored beside the bytes (exact strings and integers, so compared here). The leaf and chain
 * hashes and the root hash were checked with the bytes.
 */
function rowProblem(stored: StoredTrace, checked: CheckedTrace): RowProblem | undefined {
  const { run, trace, rows, checkpoint } = stored;
  const ended = checked.runEnd !== undefined;
  if (isTerminal(run.status) && !ended) {
    const reason =
      run.terminationReason === "tampered"
        ? `the worker that took this run found its trace tampered and ended it without signing: ${run.errorMessage ?? ""}`
        : `the run is ${run.status}, but its trace has no run-end: the run did not end the way its trace records`;
    return { seq: rows.length, field: "runs.status", reason };
  }
  if (!isTerminal(run.status) && ended) return { seq: null, field: "runs.status", reason: `the run is ${run.status}, but its trace records its end` };
  const pruned = checked.verdict.prunedSeqs[0];
  if (!ended && pruned !== undefined) {
    return { seq: pruned, field: `aos_trace_steps.params at seq ${pruned}`, reason: `seq ${pruned}: a payload is missing, but only a finished run's steps are pruned` };
  }
  const moved = rows.findIndex((row, position) => row.seq !== position);
  if (moved >= 0) return { seq: moved, field: "aos_trace_steps.seq", reason: `the row at position ${moved} says seq ${rows[moved]?.seq}` };
  if (run.nextSeq !== rows.length) {
    const what = run.nextSeq > rows.length ? "rows are missing" : "rows were added";
    const reason = `the run's cursor says ${run.nextSeq} step rows were written, but the trace has ${rows.length}: ${what}`;
    return { seq: Math.min(run.nextSeq, rows.length), field: "runs.next_seq", reason };
  }
  if (run.chainHead !== (checked.chain.at(-1) ?? checked.genesis)) {
    return { seq: null, field: "runs.chain_head", reason: "the run's chain_head is not where its trace ends" };
  }
  const finalization = ended ? { merkleRoot: checked.verdict.merkleRoot, treeSize: rows.length + 1 } : { merkleRoot: null, treeSize: null };
  if (trace.merkleRoot !== finalization.merkleRoot || trace.treeSize !== finalization.treeSize) {
    return { seq: null, field: "aos_traces.merkle_root", reason: "the trace row's merkle_root and tree_size are not those of its leaves" };
  }
  const signed = checked.verdict.checkpoint;
  if (checkpoint !== undefined && signed !== null) {
    const agrees =
      checkpoint.origin === signed.origin &&
      checkpoint.treeSize === signed.treeSize &&
      checkpoint.merkleRoot === signed.merkleRoot.toString("hex") &&
      checkpoint.chainHead === signed.chainHead &&
      checkpoint.runId === run.id &&
      checked.verdict.signingKeys.includes(`${checkpoint.keyName}+${checkpoint.keyId}`);
    if (!agrees) return { seq: null, field: "aos_checkpoints", reason: "the checkpoint row's columns are not what its signed note says" };
  }
  return undefined;
}

/**
 * Format v1: the leaves re-hashed from the columns, as before format v2; the verdict says what v1 leaves out. An
 * unfinished v1 trace is UNSUPPORTED, not INCOMPLETE: nothing signs it yet and its rows carry no attestations, so
 * nothing tells them from a database writer's (who can also relabel an unfinished v2 trace as v1), and no worker
 * resumes it.
 */
function proveV1(stored: StoredTrace, verifiers: readonly NoteVerifier[]): ProofVerdict {
  const verdict = checkV1(stored, verifiers);
  if (verdict.status !== "INCOMPLETE") return verdict;
  const reason = "an unfinished format v1 trace: its rows carry no attestations, so they cannot be checked, and no worker resumes it";
  return { ...verdict, status: "UNSUPPORTED", failureReason: reason };
}

function checkV1(stored: StoredTrace, verifiers: readonly NoteVerifier[]): ProofVerdict {
  const { run, trace, rows, checkpoint } = stored;
  return verifyV1Trace(
    {
      header: v1HeaderOf(stored),
      storedPlanHash: trace.planHash,
      steps: rows.map((row) => row.copies),
      finished: isTerminal(run.status),
      storedRootHash: trace.rootHash,
      storedMerkleRoot: trace.merkleRoot,
      storedTreeSize: trace.treeSize,
      checkpointNote: checkpoint?.note ?? null,
    },
    verifiers,
  );
}
