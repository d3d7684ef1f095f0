import { createHash } from "node:crypto";
import { AppError } from "../errors.js";
import { BUNDLE_FORMAT, BUNDLE_FORMAT_PREFIX, parseBundle, V2_BUNDLE_FORMAT } from "./bundle.js";
import type { TraceFormat } from "./checkpoint.js";
import { provenFacts, type RunFacts } from "./run-facts.js";
import { parseStrictJson } from "./strict-json.js";
import type { NoteVerifier } from "./signed-note.js";
import { parseBundle as parseV1Bundle, BUNDLE_FORMAT as V1_BUNDLE_FORMAT } from "./v1/bundle.js";
import { verifyTrace as verifyV1Trace } from "./v1/verify-trace.js";
import type { ProofStatus, ProofVerdict } from "./verdict.js";
import { verifyCosignatures, type WitnessVerifier } from "./cosignature.js";
import { decodeStandardBase64, readNote } from "./signed-note.js";
import { readTimestampToken, verifyTimestampToken } from "./timestamp-token.js";
import { checkTenantLogProof, expectedEntry, type TenantLogProof, type TenantLogVerdict } from "./verify-tenant-log.js";
import { type CheckedTrace, verifyTraceRecord } from "./verify-trace.js";

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
  /** The run's place in its tenant's log, once proven (a finished run's v3 bundle, or the database); else null. */
  tenant_log: TenantLogVerdict | null;
}

/** What a v2 bundle leaves out: it carries the run's own proof, not its place in its tenant's log. */
export const V2_BUNDLE_NOT_COVERED =
  "a v2 bundle carries no tenant-log proof: that this run is in its tenant's log (so that deleting it, or showing others another history, is caught) is not proven; export the run again for a v3 bundle";

export function verdictJson(verdict: ProofVerdict, runId: string | null, run: RunFacts | null, tenantLog: TenantLogVerdict | null = null): VerdictJson {
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
    tenant_log: tenantLog,
  };
}

/**
 * What a verifier trusts beyond the log key (docs/proofs.md, "Witnesses", "Timestamps"): the tenant checkpoint a
 * bundle carries must bear valid cosignatures by at least `threshold` of `witnesses` (none: no witness policy), and
 * its timestamp token is checked against `tsaCertificates` (PEM; none: the token is checked for what it stamps, and
 * its time is not reported).
 */
export interface WitnessPolicy {
  witnesses: readonly WitnessVerifier[];
  threshold: number;
  tsaCertificates?: readonly string[];
}

/**
 * Verifies a proof bundle's text offline against the keys the caller trusts: no database, nothing written
 * (docs/proofs.md, "Verification"). Text that is not a bundle at all throws a USAGE error; anything wrong inside a
 * bundle is a verdict (TAMPERED naming the field), never a throw. Used by `aos verify` and the SDK.
 */
export function verifyBundleText(input: string | Uint8Array, trusted: readonly NoteVerifier[], policy?: WitnessPolicy): VerdictJson {
  const json = bundleObject(input);
  if (json.format === V1_BUNDLE_FORMAT) return withoutTenantLog(verifyV1(JSON.stringify(json), trusted), policy, "a v1 bundle");
  if (json.format !== BUNDLE_FORMAT && json.format !== V2_BUNDLE_FORMAT) {
    const known = [BUNDLE_FORMAT, V2_BUNDLE_FORMAT, V1_BUNDLE_FORMAT].join(", ");
    return unreadable("UNSUPPORTED", "format", `the bundle format ${String(json.format)} is not one this verifier knows (${known})`);
  }
  const parsed = parseBundle(json);
  if (!parsed.ok) return unreadable("TAMPERED", parsed.field, `the bundle is malformed at ${parsed.field}: ${parsed.reason}`, parsed.firstBadSeq);
  const checked = verifyTraceRecord(parsed.record, trusted);
  const runId = checked.header?.run_id ?? null;
  if (parsed.tenantLog === undefined) {
    const verdict = checked.verdict.status === "VERIFIED" ? { ...checked.verdict, notCovered: V2_BUNDLE_NOT_COVERED } : checked.verdict;
    return withoutTenantLog(verdictJson(verdict, runId, provenFacts(checked)), policy, "a v2 bundle");
  }
  const withLog = withTenantLog(checked, parsed.tenantLog, trusted);
  if (withLog.tenantLog === null || parsed.tenantLog === null) return verdictJson(withLog.verdict, runId, provenFacts(checked), withLog.tenantLog);
  const stamped = checkTimestamp(withLog.verdict, withLog.tenantLog, parsed.tenantLog, policy?.tsaCertificates ?? []);
  const witnessed = applyWitnessPolicy(stamped.verdict, stamped.tenantLog, parsed.tenantLog.checkpoint, policy);
  return verdictJson(witnessed.verdict, runId, provenFacts(checked), witnessed.tenantLog);
}

/**
 * A timestamp token must stamp this checkpoint's body: with trusted TSA certificates it is verified in full and its
 * time reported; without, it is still read and its imprint compared, so that a token is never an unchecked value —
 * but its time, which only a trusted TSA makes evidence, is not reported.
 */
function checkTimestamp(verdict: ProofVerdict, tenantLog: TenantLogVerdict, proof: TenantLogProof, certificates: readonly string[]): { verdict: ProofVerdict; tenantLog: TenantLogVerdict } {
  if (proof.timestamp === null || verdict.status !== "VERIFIED") return { verdict, tenantLog };
  const fail = (reason: string) => ({ verdict: { ...verdict, status: "TAMPERED" as const, field: "tenant_log.timestamp", failureReason: `the timestamp token: ${reason}` }, tenantLog });
  const token = decodeStandardBase64(proof.timestamp);
  const body = readNote(proof.checkpoint);
  if (token === undefined) return fail("not canonical standard base64");
  if (!body.ok) return fail("the checkpoint it would stamp is not a signed note");
  const message = Buffer.from(body.text, "utf8");
  if (certificates.length > 0) {
    const checked = verifyTimestampToken(token, { message, trustedCertificates: certificates });
    return checked.ok ? { verdict, tenantLog: { ...tenantLog, timestamp: checked.genTime.toISOString() } } : fail(checked.reason);
  }
  const read = readTimestampToken(token);
  if (!read.ok) return fail(read.reason);
  const stamps = read.info.imprint.value.equals(createHash("sha256").update(message).digest());
  return stamps ? { verdict, tenantLog } : fail("it stamps other bytes than this tenant checkpoint's body");
}

/**
 * A bundle of a format before v3 carries no tenant checkpoint, so no witness can have cosigned anything of it: under
 * a witness policy it is UNWITNESSED however well its trace verifies (a v1 checkpoint is four lines any key holder
 * can sign for any run).
 */
function withoutTenantLog(verdict: VerdictJson, policy: WitnessPolicy | undefined, what: string): VerdictJson {
  if (verdict.verification_status !== "VERIFIED" || policy === undefined || policy.witnesses.length === 0) return verdict;
  const reason = `the verifier requires witness cosignatures, and ${what} carries no tenant checkpoint to bear them`;
  return { ...verdict, verification_status: "UNWITNESSED", failure_reason: reason, field: "tenant_log" };
}

/**
 * Counts the trusted witnesses whose cosignatures on the tenant checkpoint verify. A cosignature by a witness the
 * verifier does not list is ignored, as signed-note asks; one that does not verify by a listed witness is TAMPERED.
 */
function applyWitnessPolicy(verdict: ProofVerdict, tenantLog: TenantLogVerdict, checkpoint: string, policy: WitnessPolicy | undefined): { verdict: ProofVerdict; tenantLog: TenantLogVerdict } {
  if (policy === undefined || policy.witnesses.length === 0) return { verdict, tenantLog };
  // A witness listed twice, or under a second name, is one witness: cosignature/v1 signs no name, so one key's line
  // relabelled verifies under any name; witnesses are counted by their public key.
  const witnesses = [...new Map(policy.witnesses.map((witness) => [witness.publicKey.toString("hex"), witness])).values()];
  const checked = verifyCosignatures(checkpoint, witnesses);
  if (!checked.ok) return { verdict: { ...verdict, status: "TAMPERED", field: "tenant_log.checkpoint", failureReason: `the tenant checkpoint's cosignatures: ${checked.reason}` }, tenantLog };
  const invalid = checked.witnesses.find((witness) => witness.status === "invalid");
  if (invalid !== undefined) {
    const reason = `the cosignature by witness ${invalid.name}+${invalid.keyId} on the tenant checkpoint does not verify`;
    return { verdict: { ...verdict, status: "TAMPERED", field: "tenant_log.checkpoint", failureReason: reason }, tenantLog };
  }
  const witnessedBy = checked.witnesses.filter((witness) => witness.status === "verified").map((witness) => `${witness.name}+${witness.keyId}`);
  const withWitnesses = { ...tenantLog, witnessed_by: witnessedBy };
  if (witnessedBy.length >= policy.threshold) return { verdict, tenantLog: withWitnesses };
  const reason = `${witnessedBy.length} of the ${witnesses.length} trusted witnesses cosigned the tenant checkpoint; the policy requires ${policy.threshold}`;
  return { verdict: { ...verdict, status: "UNWITNESSED", field: "tenant_log.checkpoint", failureReason: reason }, tenantLog: withWitnesses };
}

/**
 * Step 10 (docs/proofs.md): a finished run's place in its tenant's log. Checked only once the trace itself is
 * VERIFIED — a trace that fails says so first — and required of every finished run: a v3 bundle of a finished run
 * without it is TAMPERED, as is one of an unfinished run that claims an entry.
 */
function withTenantLog(checked: CheckedTrace, proof: TenantLogProof | null, trusted: readonly NoteVerifier[]): { verdict: ProofVerdict; tenantLog: TenantLogVerdict | null } {
  const { verdict, runEnd } = checked;
  const tampered = (field: string, reason: string, status: ProofStatus = "TAMPERED") => ({
    verdict: { ...verdict, status, field, failureReason: reason, firstBadSeq: null },
    tenantLog: null,
  });
  if (verdict.status === "INCOMPLETE" && proof !== null) return tampered("tenant_log", "an unfinished run has no tenant-log entry, but the bundle carries one");
  if (verdict.status !== "VERIFIED" || runEnd === undefined) return { verdict, tenantLog: null };
  if (proof === null) return tampered("tenant_log", "the run has ended, but the bundle carries no proof that it is in its tenant's log");
  const signerName = (verdict.signedBy[0] ?? "").split("+")[0] as string;
  const expected = expectedEntry(runEnd, verdict.checkpoint?.treeSize ?? 0, verdict.merkleRoot ?? "", verdict.rootHash ?? "");
  const check = checkTenantLogProof(proof, expected, signerName, trusted);
  if (!check.ok) return tampered(check.field, check.reason, check.status);
  return { verdict, tenantLog: check.verdict };
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
    tenant_log: null,
  };
}
