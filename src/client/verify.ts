import { type NoteVerifier, parseVerifierKey } from "../trace/signed-note.js";
import { type VerdictJson, verifyBundleText } from "../trace/verify-bundle.js";

export type { VerdictJson as BundleVerdict };

/**
 * Verifies a proof bundle offline (no server, no database) against verification keys you trust (C2SP vkeys,
 * e.g. from `aos keys` or GET /api/v1/keys fetched once and pinned), with the same verdicts as `aos verify`
 * (docs/proofs.md): VERIFIED means every byte hashes to what the trace records, the chain and Merkle root match and
 * a trusted key signed the checkpoint; UNTRUSTED_KEY that another key signed it. Throws when no key is given, a key
 * is not a vkey, or the value is not an AOS proof bundle at all.
 */
export function verifyProofBundle(bundle: string | object, trustedKeys: readonly string[]): VerdictJson {
  if (trustedKeys.length === 0) throw new Error("verifyProofBundle needs at least one trusted verification key");
  const verifiers: NoteVerifier[] = trustedKeys.map((text) => {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new Error(`"${text}" is not a C2SP verification key (${parsed.reason})`);
    return parsed.key;
  });
  return verifyBundleText(typeof bundle === "string" ? bundle : JSON.stringify(bundle), verifiers);
}
