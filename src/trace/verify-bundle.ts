import { AppError } from "../errors.js";
import { BUNDLE_FORMAT, BUNDLE_FORMAT_PREFIX, parseBundle } from "./bundle.js";
import type { TraceFormat } from "./checkpoint.js";
import { provenFacts, type RunFacts } from "./run-facts.js";
import { parseStrictJson } from "./strict-json.js";
import type { NoteVerifier } from "./signed-note.js";
import { parseBundle as parseV1Bundle, BUNDLE_FORMAT as V1_BUNDLE_FORMAT } from "./v1/bundle.js";
import { verifyTrace as verifyV1Trace } from "./v1/verify-trace.js";
import type { ProofStatus, ProofVerdict } from "./verdict.js";
import { verifyTraceRecord } from "./verify-trace.js";

/** A verification as programs read it: `aos verify --json`, the SDK, and the core of `aos proof --json`. */
export interface VerdictJson {
  run_id: string | null;
  format: TraceFormat | null;
  verification_status: ProofStatus;
  failure_reason: string | null;
  first_bad_seq: number | null;
  field: string | null;
  chain_length: number;
  step_count: number;
  /** Steps whose payload was pruned or withheld: their headers are proven, that content is not there. */
  pruned_steps: number;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  signed_by: string[];
  signing_keys: string[];
  /** What the format does not cover (format v1), or null. */
  not_covered: string | null;
  /** The run's facts as its verified bytes state them (format v2); null when they could not be read. */
  run: RunFacts | null;
}

export function verdictJson(verdict: ProofVerdict, runId: string | null, run: RunFacts | null): VerdictJson {
  return {
    run_id: runId,
    format: verdict.format,
    verification_status: verdict.status,
    failure_reason: verdict.failureReason,
    first_bad_seq: verdict.firstBadSeq,
    field: verdict.field,
    chain_length: verdict.chainLength,
    step_count: verdict.stepCount,
    pruned_steps: verdict.prunedSeqs.length,
    merkle_root: verdict.merkleRoot,
    root_hash: verdict.rootHash,
    signature_valid: verdict.signatureValid,
    signed_by: verdict.signedBy,
    signing_keys: verdict.signingKeys,
    not_covered: verdict.notCovered,
    run,
  };
}

/**
 * Verifies a proof bundle's text offline against the keys the caller trusts: no database, nothing written
 * (docs/proofs.md, "Verification"). Text that is not a bundle at all throws a USAGE error; anything wrong inside a
 * bundle is a verdict (TAMPERED naming the field), never a throw. Used by `aos verify` and the SDK.
 */
export function verifyBundleText(input: string | Uint8Array, trusted: readonly NoteVerifier[]): VerdictJson {
  const json = bundleObject(input);
  if (json.format === V1_BUNDLE_FORMAT) return verifyV1(JSON.stringify(json), trusted);
  if (json.format !== BUNDLE_FORMAT) {
    return unreadable("UNSUPPORTED", "format", `the bundle format ${String(json.format)} is not one this verifier knows (${BUNDLE_FORMAT}, ${V1_BUNDLE_FORMAT})`);
  }
  const parsed = parseBundle(json);
  if (!parsed.ok) return unreadable("TAMPERED", parsed.field, `the bundle is malformed at ${parsed.field}: ${parsed.reason}`, parsed.firstBadSeq);
  const checked = verifyTraceRecord(parsed.record, trusted);
  return verdictJson(checked.verdict, checked.header?.run_id ?? null, provenFacts(checked));
}

function bundleObject(input: string | Uint8Array): Record<string, unknown> {
  const parsed = parseStrictJson(input);
  if (!parsed.ok) throw new AppError("USAGE", `not an AOS proof bundle: ${parsed.reason} (a bundle is I-JSON, RFC 7493)`);
  const json = parsed.value;
  const format = json !== null && typeof json === "object" && !Array.isArray(json) ? (json as Record<string, unknown>).format : undefined;
  if (typeof format !== "string" || !format.startsWith(BUNDLE_FORMAT_PREFIX)) {
    throw new AppError("USAGE", `not an AOS proof bundle: it has no "format" starting with "${BUNDLE_FORMAT_PREFIX}" (write one with \`aos export-proof\`)`);
  }
  return json as Record<string, unknown>;
}

function verifyV1(text: string, trusted: readonly NoteVerifier[]): VerdictJson {
  const parsed = parseV1Bundle(text);
  if (!parsed.ok) return { ...unreadable("TAMPERED", "bundle", parsed.reason, parsed.firstBadSeq), format: "aos-trace-v1" };
  try {
    return verdictJson(verifyV1Trace(parsed.evidence, trusted), parsed.bundle.run.run_id, null);
  } catch (error) {
    // v1 re-serialises what it hashes: a value canonical JSON cannot represent (a lone surrogate, 1e400) or nesting
    // too deep for it cannot be what was hashed.
    return { ...unreadable("TAMPERED", "bundle", `the bundle holds a value that cannot have been hashed: ${(error as Error).message}`), format: "aos-trace-v1" };
  }
}

function unreadable(status: ProofStatus, field: string, reason: string, firstBadSeq: number | null = null): VerdictJson {
  return {
    run_id: null,
    format: null,
    verification_status: status,
    failure_reason: reason,
    first_bad_seq: firstBadSeq,
    field,
    chain_length: 0,
    step_count: 0,
    pruned_steps: 0,
    merkle_root: null,
    root_hash: null,
    signature_valid: null,
    signed_by: [],
    signing_keys: [],
    not_covered: null,
    run: null,
  };
}
