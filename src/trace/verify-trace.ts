import type { TraceStep } from "../glossary.js";
import { type Checkpoint, verifyCheckpoint } from "./checkpoint.js";
import { merkleRoot } from "./merkle.js";
import type { NoteVerifier } from "./signed-note.js";
import { contentOf, isPruned } from "./step-content.js";
import { chainGenesis, chainNext, leafHash, type TraceHeader } from "./step-hash.js";

/**
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

export type VerificationStatus = "VERIFIED" | "TAMPERED" | "INCOMPLETE";

export interface TraceVerdict {
  status: VerificationStatus;
  failureReason: string | null;
  firstBadSeq: number | null;
  /** Rows whose leaf and chain hashes checked out, in order. */
  chainLength: number;
  /** The chain head and Merkle root recomputed from the rows (hex). */
  rootHash: string;
  merkleRoot: string;
  signatureValid: boolean | null;
  signedBy: string[];
  checkpoint: Checkpoint | null;
  /**
   * Steps whose payload was pruned: their leaf hashes were checked against the chain and the Merkle root, but their
   * content could not be re-hashed, so a VERIFIED says nothing about what those rows still show.
   */
  prunedSteps: number;
}

/** Checks a trace: leaves, chain, then (for a finished run) the signed checkpoint against the rows. */
export function verifyTrace(evidence: TraceEvidence, verifiers: readonly NoteVerifier[]): TraceVerdict {
  const rows = checkRows(evidence);
  const base = {
    chainLength: rows.chainLength,
    rootHash: rows.head,
    merkleRoot: merkleRoot(evidence.steps.map((step) => Buffer.from(step.leafHash, "hex"))).toString("hex"),
    signatureValid: null,
    signedBy: [],
    checkpoint: null,
    prunedSteps: evidence.steps.filter(isPruned).length,
  };
  if (rows.problem !== undefined) return { ...base, status: "TAMPERED", ...rows.problem };
  if (evidence.header.plan_hash !== evidence.storedPlanHash) {
    return tampered(base, null, "the run's plan is not the plan the trace was started with");
  }
  if (!evidence.finished) {
    if (evidence.checkpointNote !== null) return tampered(base, null, "a checkpoint exists for a run that has not finished");
    return { ...base, status: "INCOMPLETE", failureReason: "run not finished: the recorded prefix checks, no checkpoint yet", firstBadSeq: null };
  }
  return checkClosure(evidence, verifiers, base);
}

type Base = Omit<TraceVerdict, "status" | "failureReason" | "firstBadSeq">;

function tampered(base: Base, firstBadSeq: number | null, failureReason: string): TraceVerdict {
  return { ...base, status: "TAMPERED", failureReason, firstBadSeq };
}

function checkRows(evidence: TraceEvidence): {
  head: string;
  chainLength: number;
  problem?: { failureReason: string; firstBadSeq: number };
} {
  let head = chainGenesis(evidence.header);
  let index = 0;
  for (const step of evidence.steps) {
    const fail = (failureReason: string) => ({ head, chainLength: index, problem: { failureReason, firstBadSeq: index } });
    if (step.seq !== index) {
      return fail(step.seq > index ? `step row seq ${index} is missing (found seq ${step.seq})` : `step row seq ${step.seq} appears twice`);
    }
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

function checkClosure(evidence: TraceEvidence, verifiers: readonly NoteVerifier[], base: Base): TraceVerdict {
  const rowCount = evidence.steps.length;
  if (evidence.checkpointNote === null) return tampered(base, null, "the run has finished but its trace has no checkpoint");
  const opened = verifyCheckpoint(evidence.checkpointNote, verifiers);
  if (!opened.ok) {
    return { ...tampered(base, null, `checkpoint: ${opened.reason}`), signatureValid: false };
  }
  const { checkpoint } = opened;
  const signed = { ...base, signatureValid: true, signedBy: opened.verifiedBy, checkpoint };
  if (!checkpoint.origin.endsWith(`/run/${evidence.header.run_id}`)) {
    return tampered(signed, null, `the checkpoint was signed for ${checkpoint.origin}, not for run ${evidence.header.run_id}`);
  }
  if (checkpoint.treeSize !== rowCount) {
    const firstBadSeq = Math.min(checkpoint.treeSize, rowCount);
    const what = checkpoint.treeSize > rowCount ? "rows are missing" : "rows were added";
    return tampered(signed, firstBadSeq, `the checkpoint covers ${checkpoint.treeSize} steps but the trace has ${rowCount}: ${what}`);
  }
  if (checkpoint.merkleRoot.toString("hex") !== base.merkleRoot) {
    return tampered(signed, null, "the Merkle root of the rows differs from the checkpoint's");
  }
  if (checkpoint.chainHead !== base.rootHash) return tampered(signed, null, "the chain head differs from the checkpoint's");
  if (evidence.storedRootHash !== base.rootHash || evidence.storedMerkleRoot !== base.merkleRoot || evidence.storedTreeSize !== rowCount) {
    return tampered(signed, null, "the trace row's finalization hashes differ from the checkpoint's");
  }
  return { ...signed, status: "VERIFIED", failureReason: null, firstBadSeq: null };
}
