import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/**
 * Write-time attestations (docs/proofs.md, "Write-time attestations"): an HMAC-SHA256 over a row's place in its
 * trace and its chain hash, with a key derived from the signing key's seed, so it never enters the database. A
 * worker checks them before it extends or signs a trace: a prefix re-hashed by someone without the key fails here,
 * long before any checkpoint would have caught it. Stored as `<key id>:<hex MAC>`, the key id being the signing
 * key's, so a rotation leaves older rows checkable with the retired key.
 */
export interface AttestationKey {
  keyId: string;
  secret: Buffer;
}

export interface AttestationKeys {
  /** Attests what this process writes. */
  current: AttestationKey;
  /** Every key this process can check with, by key id: the current one and those retired by rotation. */
  byId: ReadonlyMap<string, Buffer>;
}

/**
 * What an attestation is of: the trace header's genesis hash, a step row's seq, or a request recorded for the run
 * (`approval/2`: a person's decision on step 2; `cancel`: a request to stop it), or the run's entry queued for its
 * tenant's log (`tenant-log`, over the entry's SHA-256).
 */
export type AttestedPosition = "genesis" | number | `approval/${number}` | "cancel" | "tenant-log";

const INFO = "aos-attestation-v2";

export function deriveAttestationKey(seed: Buffer, keyId: string): AttestationKey {
  return { keyId, secret: Buffer.from(hkdfSync("sha256", seed, Buffer.alloc(0), INFO, 32)) };
}

export function attestationKeys(current: AttestationKey, retired: readonly AttestationKey[] = []): AttestationKeys {
  const byId = new Map(retired.map((key) => [key.keyId, key.secret]));
  byId.set(current.keyId, current.secret);
  return { current, byId };
}

function mac(secret: Buffer, runId: string, position: AttestedPosition, chainHex: string): Buffer {
  return createHmac("sha256", secret).update(`${INFO}\n${runId}\n${position}\n${chainHex}`, "utf8").digest();
}

export function attest(key: AttestationKey, runId: string, position: AttestedPosition, chainHex: string): string {
  return `${key.keyId}:${mac(key.secret, runId, position, chainHex).toString("hex")}`;
}

const STORED = /^([0-9a-f]{8}):([0-9a-f]{64})$/;

/** Why an attestation does not hold, or undefined when it does. */
export function attestationProblem(
  keys: AttestationKeys,
  runId: string,
  position: AttestedPosition,
  chainHex: string,
  stored: string | null,
): string | undefined {
  if (stored === null) return "it has no attestation";
  const match = STORED.exec(stored);
  if (match === null) return "its attestation is malformed";
  const [, keyId, hex] = match as unknown as [string, string, string];
  const secret = keys.byId.get(keyId);
  if (secret === undefined) {
    return `its attestation was made with key ${keyId}, which this process does not hold (forged, or written by a process with another signing key)`;
  }
  const expected = mac(secret, runId, position, chainHex);
  return timingSafeEqual(expected, Buffer.from(hex, "hex")) ? undefined : "its attestation does not match (the row was changed after it was written)";
}
