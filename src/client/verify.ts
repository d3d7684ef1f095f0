import { parseWitnessVerifierKey } from "../trace/cosignature.js";
import { type NoteVerifier, parseVerifierKey } from "../trace/signed-note.js";
import { type VerdictJson, verifyBundleText } from "../trace/verify-bundle.js";

export type { VerdictJson as BundleVerdict };

/**
 * Verifies a proof bundle offline (no server, no database) against verification keys you trust (C2SP vkeys,
 * e.g. from `aos keys` or GET /api/v1/keys fetched once and pinned), with the same verdicts as `aos verify`
 * (docs/proofs.md): VERIFIED means every byte hashes to what the trace records, the chain and Merkle root match and
 * a trusted key signed the checkpoint; UNTRUSTED_KEY that another key signed it. With `witnesses` (witness
 * verifier keys) the run's tenant checkpoint must also bear cosignatures by `witnessThreshold` of them (default: all),
 * else UNWITNESSED; with `tsaCertificates` (PEM) the checkpoint's timestamp token is checked and its time reported. Throws when no key is given, a key is not a vkey, or the value is not an AOS proof bundle at all.
 */
export function verifyProofBundle(
  bundle: string | object,
  trustedKeys: readonly string[],
  options: { witnesses?: readonly string[]; witnessThreshold?: number; tsaCertificates?: readonly string[] } = {},
): VerdictJson {
  if (trustedKeys.length === 0) throw new Error("verifyProofBundle needs at least one trusted verification key");
  const verifiers: NoteVerifier[] = trustedKeys.map((text) => {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new Error(`"${text}" is not a C2SP verification key (${parsed.reason})`);
    return parsed.key;
  });
  const listed = (options.witnesses ?? []).map((text) => {
    const parsed = parseWitnessVerifierKey(text.trim());
    if (!parsed.ok) throw new Error(`"${text}" is not a witness verifier key (${parsed.reason})`);
    return parsed.key;
  });
  // A witness given twice, or under a second name, is one witness: counted by its public key.
  const witnesses = [...new Map(listed.map((witness) => [witness.publicKey.toString("hex"), witness])).values()];
  const threshold = options.witnessThreshold ?? witnesses.length;
  if (witnesses.length > 0 && !(Number.isSafeInteger(threshold) && threshold >= 1 && threshold <= witnesses.length)) {
    throw new Error(`witnessThreshold must be a whole number from 1 to ${witnesses.length}`);
  }
  const policy = { witnesses, threshold, tsaCertificates: options.tsaCertificates ?? [] };
  return verifyBundleText(typeof bundle === "string" ? bundle : JSON.stringify(bundle), verifiers, policy);
}
