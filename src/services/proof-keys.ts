import type { Config } from "../config.js";
import type { ProofKeys } from "../proof/prove-stored.js";
import { loadAttestationKeys, loadVerifiers } from "../trace/key-store.js";

/**
 * The keys this host checks stored proofs with: the trusted verification keys (key store and AOS_VERIFIER_KEYS),
 * and the attestation keys when it holds a signing key. Creates nothing.
 */
export function proofKeys(config: Config): ProofKeys {
  return { verifiers: loadVerifiers(config), attestation: loadAttestationKeys(config) };
}
