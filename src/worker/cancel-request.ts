import type { CancelRequest } from "../glossary.js";
import { type AttestationKey, type AttestationKeys, attest, attestationProblem } from "../trace/attestation.js";
import { sha256Hex } from "../trace/digest.js";
import { traceTampered } from "../proof/verified-prefix.js";

/** The digest a cancel request's attestation covers: when it was made (the run id is in the attestation itself). */
function cancelDigest(requestedAt: Date): string {
  return sha256Hex(`cancel ${requestedAt.toISOString()}`);
}

/** A request to cancel a running run, attested by the process that makes it (docs/proofs.md, "Write-time attestations"). */
export function cancelRequest(key: AttestationKey, tenantId: string, runId: string, requestedAt = new Date()) {
  return { tenantId, runId, requestedAt, attestation: attest(key, runId, "cancel", cancelDigest(requestedAt)) };
}

/** A cancel request counts only if the process that recorded it attested it; one written by hand is tampering. */
export function honouredCancel(keys: AttestationKeys, runId: string, request: CancelRequest): true {
  const problem = attestationProblem(keys, runId, "cancel", cancelDigest(request.requestedAt), request.attestation);
  if (problem !== undefined) throw traceTampered(`the request to cancel the run: ${problem}`);
  return true;
}
