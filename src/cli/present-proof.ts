import type { BundleVerdict } from "../trace/verify-bundle.js";
import type { RunProof } from "../services/proofs.js";
import { type Output, paint } from "./output.js";

/** What people see of a verification (a stored run's proof or a verified bundle): the status, and where and why it failed. */
export type ProofSummary = BundleVerdict;

export function statusPaint(status: string): "green" | "red" | "yellow" {
  return status === "VERIFIED" ? "green" : status === "TAMPERED" ? "red" : "yellow";
}

/**
 * What a proof of a pruned run could and could not check, said with the status so a VERIFIED is never read as
 * covering content that is gone: e.g. `VERIFIED (payloads pruned for 2 of 3 steps: …)`.
 */
export function prunedNote(proof: Pick<ProofSummary, "pruned_steps" | "step_count">): string {
  return `payloads pruned for ${proof.pruned_steps} of ${proof.step_count} steps: their leaf hashes were checked against the signed Merkle root and chain, their content could not be re-hashed`;
}

export function printProof(output: Output, proof: ProofSummary, subject = `run ${proof.run_id}`): void {
  const where = proof.first_bad_seq === null ? "" : ` at seq ${proof.first_bad_seq}`;
  const verifiedPruned = proof.verification_status === "VERIFIED" && proof.pruned_steps > 0;
  const note = verifiedPruned ? ` (${prunedNote(proof)})` : "";
  output.out(`Proof for ${subject}: ${paint(output, statusPaint(proof.verification_status), proof.verification_status)}${where}${note}`);
  if (proof.failure_reason !== null) output.out(`  ${proof.failure_reason}`);
  if (proof.pruned_steps > 0 && !verifiedPruned) output.out(`  payloads pruned for ${proof.pruned_steps} of ${proof.step_count} steps`);
  output.out(`  steps checked: ${proof.chain_length} of ${proof.step_count}`);
  if (proof.merkle_root !== null) output.out(`  merkle root:   ${proof.merkle_root}`);
  if (proof.root_hash !== null) output.out(`  chain head:    ${proof.root_hash}`);
  if (proof.signature_valid !== null) {
    output.out(`  signature:     ${proof.signature_valid ? `valid (${proof.signed_by.join(", ")})` : "NOT valid"}`);
  }
}

export function proofLine(proof: RunProof): string {
  const where = proof.first_bad_seq === null ? "" : ` at seq ${proof.first_bad_seq}`;
  const reason = proof.failure_reason === null ? "" : `: ${proof.failure_reason}`;
  const pruned = proof.pruned_steps > 0 ? ` (${prunedNote(proof)})` : "";
  return `proof: ${proof.verification_status}${where}${reason}${pruned}`;
}
