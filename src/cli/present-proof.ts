import type { RunProof } from "../services/proofs.js";
import { type Output, paint } from "./output.js";

/** What people see of a verification: the status, and where and why it failed. */
export interface ProofSummary {
  run_id: string;
  verification_status: string;
  chain_length: number;
  step_count: number;
  failure_reason: string | null;
  first_bad_seq: number | null;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  signed_by: string[];
}

export function statusPaint(status: string): "green" | "red" | "yellow" {
  return status === "VERIFIED" ? "green" : status === "TAMPERED" ? "red" : "yellow";
}

export function printProof(output: Output, proof: ProofSummary, subject = `run ${proof.run_id}`): void {
  const where = proof.first_bad_seq === null ? "" : ` at seq ${proof.first_bad_seq}`;
  output.out(`Proof for ${subject}: ${paint(output, statusPaint(proof.verification_status), proof.verification_status)}${where}`);
  if (proof.failure_reason !== null) output.out(`  ${proof.failure_reason}`);
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
  return `proof: ${proof.verification_status}${where}${reason}`;
}
