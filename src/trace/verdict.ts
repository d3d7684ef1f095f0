import type { Checkpoint, TraceFormat } from "./checkpoint.js";

/**
 * The verdicts of a proof (docs/proofs.md, "Verification"). Only VERIFIED means the trace is the one a trusted key
 * signed (and, with a witness policy, that enough trusted witnesses cosigned the tenant checkpoint holding it);
 * UNTRUSTED_KEY means it is consistent and signed, but by a key the verifier does not trust; UNWITNESSED that all
 * of it checks but fewer trusted witnesses cosigned its tenant checkpoint than the verifier's policy demands.
 */
export const PROOF_STATUSES = ["VERIFIED", "TAMPERED", "INCOMPLETE", "UNSUPPORTED", "UNTRUSTED_KEY", "UNWITNESSED"] as const;
export type ProofStatus = (typeof PROOF_STATUSES)[number];

export interface ProofVerdict {
  format: TraceFormat;
  status: ProofStatus;
  failureReason: string | null;
  /** The first leaf that failed, when one did. */
  firstBadSeq: number | null;
  /** What failed, as a path into the bundle (`steps[1].params`) or a table and column (`runs.status`). */
  field: string | null;
  /** Leaves whose hashes were computed and linked, in order (the run-end included once checked). */
  chainLength: number;
  stepCount: number;
  /** The chain head and Merkle root computed from the bytes (hex); null when not reached. */
  rootHash: string | null;
  merkleRoot: string | null;
  signatureValid: boolean | null;
  /** The trusted keys whose signatures verified, as `name+keyid`. */
  signedBy: string[];
  /** Every key that signed the checkpoint, trusted or not, as `name+keyid`. */
  signingKeys: string[];
  checkpoint: Checkpoint | null;
  /** Steps with a payload pruned or withheld: their headers are proven, that content is not there to hash. */
  prunedSeqs: number[];
  /** For format v1: what that format does not cover; null for v2. */
  notCovered: string | null;
}

/** What format v1 leaves out, said with every v1 verdict (docs/proofs.md, "Format v1"). */
export const V1_NOT_COVERED =
  "format aos-trace-v1 does not cover the run's own facts (status, goal, error message, costs, attempts, times), the headers of pruned steps, or values below millisecond and double precision";
