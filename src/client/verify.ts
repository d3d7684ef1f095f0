import { type NoteVerifier, parseVerifierKey } from "../trace/signed-note.js";
import { type BundleVerdict, verifyBundleText } from "../trace/verify-bundle.js";

export type { BundleVerdict };

/**
 * Verifies a proof bundle offline (no server, no database) against verification keys you trust (C2SP vkeys,
 * e.g. from `aos keys` or GET /api/v1/keys fetched once and pinned). VERIFIED means every step's content hashes
 * to its leaf, the chain links, the Merkle root matches and a trusted key signed the checkpoint.
 */
export function verifyProofBundle(bundle: string | object, trustedKeys: readonly string[]): BundleVerdict {
  if (trustedKeys.length === 0) throw new Error("verifyProofBundle needs at least one trusted verification key");
  const verifiers: NoteVerifier[] = trustedKeys.map((text) => {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new Error(`"${text}" is not a C2SP verification key (${parsed.reason})`);
    return parsed.key;
  });
  return verifyBundleText(typeof bundle === "string" ? bundle : JSON.stringify(bundle), () => verifiers);
}
