import type { TraceStep } from "../../glossary.js";
import { verifyCheckpoint } from "../checkpoint.js";
import { merkleRoot } from "../merkle.js";
import { readNote, type NoteVerifier } from "../signed-note.js";
import { type ProofStatus, type ProofVerdict, V1_NOT_COVERED } from "../verdict.js";
import { contentOf, isPruned } from "./step-content.js";
import { chainGenesis, chainNext, leafHash, type TraceHeader } from "./step-hash.js";

/**
 * Format aos-trace-v1, kept so runs finished before format v2 keep verifying (docs/proofs.md, "Format v1").
 * Everything a proof checks, as stored: from the database for `aos proof`, from a bundle for `aos verify`.
 * Nothing here is trusted; every hash is recomputed from content and compared.
 */
export interface TraceEvidence {
  /** Built from the run and trace rows; its plan_hash is recomputed from the run's stored plan. */
  header: TraceHeader;
  /** The plan hash the trace row recorded when the run was created. */
  storedPlanHash: string;
  steps: readonly TraceStep[];
  /** Whether the run reached a terminal status (then a checkpoint must close the trace). */
  finished: boolean;
  storedRootHash: string | null;
  storedMerkleRoot: string | null;
  storedTreeSize: number | null;
  checkpointNote: string | null;
}

/** Checks a v1 trace: leaves, chain, then (for a finished run) the checkpoint's body against the rows, then its signature. */
export function verifyTrace(evidence: TraceEvidence, verifiers: readonly NoteVerifier[]): ProofVerdict {
  const rows = checkRows(evidence);
  const base: ProofVerdict = {
    format: "aos-trace-v1",
    status: "TAMPERED",
    failureReason: null,
    firstBadSeq: null,
    field: null,
    chainLength: rows.chainLength,
    stepCount: evidence.steps.length,
    rootHash: rows.head,
    // Over well-formed leaves only: a row problem (a leaf hash that is not one among them) is reported instead.
    merkleRoot: rows.problem === undefined ? merkleRoot(evidence.steps.map((step) => Buffer.from(step.leafHash, "hex"))).toString("hex") : null,
    signatureValid: null,
    signedBy: [],
    signingKeys: [],
    checkpoint: null,
    prunedSeqs: evidence.steps.filter(isPruned).map((step) => step.seq),
    notCovered: V1_NOT_COVERED,
  };
  if (rows.problem !== undefined) return { ...base, ...rows.problem };
  if (evidence.header.plan_hash !== evidence.storedPlanHash) return tampered(base, null, "the run's plan is not the plan the trace was started with");
  if (!evidence.finished) {
    if (evidence.checkpointNote !== null) return tampered(base, null, "a checkpoint exists for a run that has not finished");
    return done(base, "INCOMPLETE", "run not finished: the recorded prefix checks, no checkpoint yet");
  }
  return checkClosure(evidence, verifiers, base);
}

function tampered(base: ProofVerdict, firstBadSeq: number | null, failureReason: string): ProofVerdict {
  return { ...base, status: "TAMPERED", failureReason, firstBadSeq, field: firstBadSeq === null ? "checkpoint" : `steps[${firstBadSeq}]` };
}

function done(base: ProofVerdict, status: ProofStatus, failureReason: string | null): ProofVerdict {
  return { ...base, status, failureReason, firstBadSeq: null, field: null };
}

const HASH = /^[0-9a-f]{64}$/;

function checkRows(evidence: TraceEvidence): { head: string; chainLength: number; problem?: Pick<ProofVerdict, "failureReason" | "firstBadSeq" | "field"> } {
  let head = chainGenesis(evidence.header);
  let index = 0;
  for (const step of evidence.steps) {
    const fail = (failureReason: string) => ({ head, chainLength: index, problem: { failureReason, firstBadSeq: index, field: `steps[${index}]` } });
    if (step.seq !== index) {
      return fail(step.seq > index ? `step row seq ${index} is missing (found seq ${step.seq})` : `step row seq ${step.seq} appears twice`);
    }
    if (!HASH.test(step.leafHash) || !HASH.test(step.chainHash)) return fail(`seq ${index}: the stored leaf or chain hash is not 64 lowercase hex digits`);
    if (isPruned(step)) {
      const problem = prunedStepProblem(step, evidence.finished);
      if (problem !== undefined) return fail(`seq ${index}: ${problem}`);
    } else if (leafHash(contentOf(step)) !== step.leafHash) {
      return fail(`seq ${index}: the stored content does not hash to its leaf hash (a recorded field was changed)`);
    }
    const next = chainNext(head, step.leafHash);
    if (next !== step.chainHash) {
      return fail(
        index === 0
          ? "seq 0: the chain does not start from this trace's header (run, tenant, agent, plan or creation time changed, or the step belongs to another trace)"
          : `seq ${index}: the chain hash does not link to the previous step`,
      );
    }
    head = next;
    index += 1;
  }
  return { head, chainLength: index };
}

/**
 * A pruned step's leaf is taken as stored and checked by the chain and the Merkle root. Only a finished run's steps
 * are pruned, and pruning removes the whole payload, so anything else is a row changed by hand.
 */
function prunedStepProblem(step: TraceStep, finished: boolean): string | undefined {
  if (!finished) return "the step's payload was pruned, but the run has not finished (only a finished run's steps are pruned)";
  if (Object.keys(step.params).length > 0 || (step.outcomeData ?? null) !== null || step.error !== null) {
    return "the step is marked pruned but still holds a payload, which cannot be checked against its leaf hash";
  }
  return undefined;
}

function checkClosure(evidence: TraceEvidence, verifiers: readonly NoteVerifier[], base: ProofVerdict): ProofVerdict {
  const rowCount = evidence.steps.length;
  if (evidence.checkpointNote === null) return tampered(base, null, "the run has finished but its trace has no checkpoint");
  const note = readNote(evidence.checkpointNote);
  const signingKeys = note.ok ? note.signers.map(({ name, keyId }) => `${name}+${keyId}`) : [];
  const opened = verifyCheckpoint(evidence.checkpointNote, verifiers);
  if (!opened.ok) {
    if (opened.code === "UNKNOWN_KEY") {
      return { ...done(base, "UNTRUSTED_KEY", `the checkpoint is signed by ${signingKeys.join(", ")}, and none of them is a trusted key`), signingKeys };
    }
    return { ...tampered(base, null, `checkpoint: ${opened.reason}`), signatureValid: false, signingKeys };
  }
  const { checkpoint } = opened;
  const signed = { ...base, signatureValid: true, signedBy: opened.verifiedBy, signingKeys, checkpoint };
  if (checkpoint.format !== "aos-trace-v1") return tampered(signed, null, "the checkpoint is not a format v1 checkpoint");
  if (!checkpoint.origin.endsWith(`/run/${evidence.header.run_id}`)) {
    return tampered(signed, null, `the checkpoint was signed for ${checkpoint.origin}, not for run ${evidence.header.run_id}`);
  }
  if (checkpoint.treeSize !== rowCount) {
    const firstBadSeq = Math.min(checkpoint.treeSize, rowCount);
    const what = checkpoint.treeSize > rowCount ? "rows are missing" : "rows were added";
    return tampered(signed, firstBadSeq, `the checkpoint covers ${checkpoint.treeSize} steps but the trace has ${rowCount}: ${what}`);
  }
  if (checkpoint.merkleRoot.toString("hex") !== base.merkleRoot) return tampered(signed, null, "the Merkle root of the rows differs from the checkpoint's");
  if (checkpoint.chainHead !== base.rootHash) return tampered(signed, null, "the chain head differs from the checkpoint's");
  if (evidence.storedRootHash !== base.rootHash || evidence.storedMerkleRoot !== base.merkleRoot || evidence.storedTreeSize !== rowCount) {
    return tampered(signed, null, "the trace row's finalization hashes differ from the checkpoint's");
  }
  return done(signed, "VERIFIED", null);
}
