import type { ProofVerdict } from "../trace/verdict.js";
import type { VerdictJson } from "../trace/verify-bundle.js";
import { type Output, paint, printable } from "./output.js";

function statusPaint(status: string): "green" | "red" | "yellow" {
  return status === "VERIFIED" ? "green" : status === "TAMPERED" ? "red" : "yellow";
}

/**
 * What a proof of a pruned run could and could not check, said with the status so a VERIFIED is never read as
 * covering content that is gone: e.g. `VERIFIED (payloads pruned for 2 of 3 steps: …)`.
 */
function prunedNote(proof: Pick<VerdictJson, "pruned_steps" | "step_count" | "format">): string {
  const what =
    proof.format === "aos-trace-v1"
      ? "their leaf hashes were checked against the signed Merkle root and chain, their content could not be re-hashed"
      : "their headers are proven, their content is not there to hash";
  return `payloads pruned for ${proof.pruned_steps} of ${proof.step_count} steps: ${what}`;
}

/**
 * A verification for people: the status, where and why it failed, what was checked, and what the format leaves out.
 * What the bundle or database supplied (its run id, key names, the reasons that quote them) is made printable.
 */
export function printProof(output: Output, proof: VerdictJson, subject = `run ${proof.run_id}`): void {
  const where = proof.first_bad_seq === null ? "" : ` at seq ${proof.first_bad_seq}`;
  const verifiedPruned = proof.verification_status === "VERIFIED" && proof.pruned_steps > 0;
  const note = verifiedPruned ? ` (${prunedNote(proof)})` : "";
  output.out(`Proof for ${printable(subject)}: ${paint(output, statusPaint(proof.verification_status), proof.verification_status)}${where}${note}`);
  if (proof.failure_reason !== null) output.out(`  ${printable(proof.failure_reason)}`);
  if (proof.field !== null) output.out(`  field:         ${printable(proof.field)}`);
  if (proof.pruned_steps > 0 && !verifiedPruned) output.out(`  payloads pruned for ${proof.pruned_steps} of ${proof.step_count} steps`);
  if (proof.format !== null) output.out(`  format:        ${proof.format}`);
  output.out(`  steps checked: ${Math.min(proof.chain_length, proof.step_count)} of ${proof.step_count}`);
  if (proof.merkle_root !== null) output.out(`  merkle root:   ${proof.merkle_root}`);
  if (proof.root_hash !== null) output.out(`  chain head:    ${proof.root_hash}`);
  if (proof.signature_valid !== null) {
    output.out(`  signature:     ${proof.signature_valid ? `valid (${printable(proof.signed_by.join(", "))})` : "NOT valid"}`);
  } else if (proof.verification_status === "UNTRUSTED_KEY") {
    output.out(`  signed by:     ${printable(proof.signing_keys.join(", "))} (none of them a trusted key)`);
  }
  const log = proof.tenant_log;
  if (log !== null && log.state === "pending") output.out("  tenant log:    pending (the run ended moments ago; the sequencer integrates it within a second)");
  if (log !== null && log.state === "included") {
    output.out(`  tenant log:    entry ${log.index} of ${log.tree_size} in ${printable(log.origin ?? "")}`);
    if (log.witnessed_by.length > 0) output.out(`  witnessed by:  ${printable(log.witnessed_by.join(", "))}`);
    if (log.timestamp !== null) output.out(`  timestamped:   ${log.timestamp} (by a trusted TSA)`);
  }
  if (proof.not_covered !== null) output.out(`  not covered:   ${proof.not_covered}`);
}

/** One line for a run's summary: `proof: VERIFIED`, or the status with where and why. */
export function proofLine(verdict: ProofVerdict): string {
  const where = verdict.firstBadSeq === null ? "" : ` at seq ${verdict.firstBadSeq}`;
  const reason = verdict.failureReason === null ? "" : `: ${verdict.failureReason}`;
  const pruned = verdict.prunedSeqs.length > 0 ? ` (${prunedNote({ pruned_steps: verdict.prunedSeqs.length, step_count: verdict.stepCount, format: verdict.format })})` : "";
  const format = verdict.notCovered === null ? "" : ` [${verdict.notCovered}]`;
  return `proof: ${verdict.status}${where}${printable(reason)}${pruned}${format}`;
}
