import { type AttestationKey, attest } from "../trace/attestation.js";
import { sha256Hex } from "../trace/digest.js";

/** The digest a cancel request's attestation covers: when it was made (the run id is in the attestation itself). */
export function cancelDigest(requestedAt: Date): string {
  return sha256Hex(`cancel ${requestedAt.toISOString()}`);
}

/** A request to cancel a running run, attested by the process that makes it (docs/proofs.md, "Write-time attestations"). */
export function cancelRequest(key: AttestationKey, tenantId: string, runId: string, requestedAt = new Date()) {
  return { tenantId, runId, requestedAt, attestation: attest(key, runId, "cancel", cancelDigest(requestedAt)) };
}
