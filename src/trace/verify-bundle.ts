import { parseBundle } from "./bundle.js";
import type { NoteVerifier } from "./signed-note.js";
import { verifyTrace } from "./verify-trace.js";

/** What verifying a proof bundle says, the same fields as a stored run's proof. */
export interface BundleVerdict {
  run_id: string;
  verification_status: string;
  chain_length: number;
  step_count: number;
  failure_reason: string | null;
  first_bad_seq: number | null;
  pruned_steps: number;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  signed_by: string[];
}

/**
 * Verifies a proof bundle's text offline against trusted keys: no database, nothing written. A bundle that does
 * not parse is TAMPERED; one without steps is UNSUPPORTED. Used by `aos verify` and the SDK. `keysFor` picks the
 * keys once the bundle is read (the CLI may fall back to the keys the bundle names).
 */
export function verifyBundleText(text: string, keysFor: (bundleKeys: readonly string[]) => readonly NoteVerifier[]): BundleVerdict {
  const parsed = parseBundle(text);
  if (!parsed.ok) {
    return {
      run_id: "(unreadable)",
      verification_status: "TAMPERED",
      chain_length: 0,
      step_count: 0,
      failure_reason: parsed.reason,
      first_bad_seq: parsed.firstBadSeq,
      pruned_steps: 0,
      merkle_root: null,
      root_hash: null,
      signature_valid: null,
      signed_by: [],
    };
  }
  const verdict = verifyTrace(parsed.evidence, keysFor(parsed.bundle.verification_keys));
  const empty = parsed.evidence.steps.length === 0;
  return {
    run_id: parsed.bundle.run.run_id,
    verification_status: empty ? "UNSUPPORTED" : verdict.status,
    chain_length: verdict.chainLength,
    step_count: parsed.evidence.steps.length,
    failure_reason: empty ? "No steps to verify" : verdict.failureReason,
    first_bad_seq: verdict.firstBadSeq,
    pruned_steps: verdict.prunedSteps,
    merkle_root: verdict.merkleRoot,
    root_hash: verdict.rootHash,
    signature_valid: verdict.signatureValid,
    signed_by: verdict.signedBy,
  };
}
