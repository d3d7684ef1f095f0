import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { checkpointsAwaitingWitness, insertCosignature, witnessedSize } from "../db/queries/tenant-checkpoints.js";
import { AppError, toAppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { parseWitnessVerifierKey, verifyCosignatures, type WitnessVerifier } from "../trace/cosignature.js";
import { submitCheckpoint } from "../witness/client.js";
import type { SignedCheckpoint } from "./integrate.js";
import { consistencyProofFromStore } from "./node-store.js";

export interface ConfiguredWitness {
  url: string;
  verifier: WitnessVerifier;
  /** `name+keyid`, as cosignatures are stored and verdicts name them. */
  label: string;
}

/** AOS_WITNESSES with each verifier key parsed; a malformed one stops the process at start, saying which. */
export function configuredWitnesses(config: Config): ConfiguredWitness[] {
  return config.witnesses.map(({ url, verifierKey }) => {
    const parsed = parseWitnessVerifierKey(verifierKey);
    if (!parsed.ok) throw new AppError("USAGE", `AOS_WITNESSES: the key for ${url} is not a witness verifier key (${parsed.reason})`);
    return { url, verifier: parsed.key, label: `${parsed.key.name}+${parsed.key.keyId}` };
  });
}

/**
 * Asks each configured witness to cosign a tenant checkpoint (docs/witness.md), proving consistency from the size
 * it last cosigned for that tenant; a witness that answers 409 with another size gets one more try from there.
 * A returned cosignature is stored only once it verifies with the witness's key. A witness that is down or refuses
 * is logged and asked again by the next sweep (resubmitPending); it never holds up the log.
 */
export async function submitToWitnesses(db: Database, config: Config, witnesses: readonly ConfiguredWitness[], signed: SignedCheckpoint, log: Logger): Promise<void> {
  await Promise.all(witnesses.map((witness) => submitToWitness(db, config, witness, signed, log)));
}

async function submitToWitness(db: Database, config: Config, witness: ConfiguredWitness, signed: SignedCheckpoint, log: Logger): Promise<void> {
  const { tenantId, treeSize, note } = signed;
  try {
    let oldSize = await witnessedSize(db.pool, tenantId, witness.label, treeSize);
    for (let attempt = 0; attempt < 2 && oldSize <= treeSize; attempt++) {
      const consistencyProof = await consistencyProofFromStore(db.pool, tenantId, oldSize, treeSize);
      const answer = await submitCheckpoint(witness.url, { oldSize, consistencyProof, note }, { egress: { openings: config.egressOpenings, narrowTo: [] }, timeoutMs: config.witnessTimeoutMs });
      if (answer.ok) return await keepCosignatures(db, witness, signed, answer.cosignatures, log);
      if (!("conflictSize" in answer) || answer.conflictSize === oldSize || answer.conflictSize > treeSize) {
        log.warn("a witness refused a tenant checkpoint", { witness: witness.label, tenant_id: tenantId, tree_size: treeSize, answer });
        return;
      }
      oldSize = answer.conflictSize;
    }
  } catch (error) {
    log.warn("a witness could not be reached; the next sweep submits again", { witness: witness.label, tenant_id: tenantId, error: toAppError(error).message });
  }
}

async function keepCosignatures(db: Database, witness: ConfiguredWitness, signed: SignedCheckpoint, lines: readonly string[], log: Logger): Promise<void> {
  for (const line of lines) {
    const checked = verifyCosignatures(signed.note + line, [witness.verifier]);
    if (checked.ok && checked.witnesses[0]?.status === "verified") {
      await insertCosignature(db.pool, signed.tenantId, signed.treeSize, witness.label, line);
      return;
    }
  }
  log.warn("a witness answered with no cosignature that verifies with its key", { witness: witness.label, tenant_id: signed.tenantId });
}

/** Submits again each tenant's latest checkpoint that a witness has not cosigned (it was down, or slow). */
export async function resubmitPending(db: Database, config: Config, witnesses: readonly ConfiguredWitness[], log: Logger): Promise<void> {
  for (const witness of witnesses) {
    for (const waiting of await checkpointsAwaitingWitness(db.pool, witness.label, 100)) {
      await submitToWitness(db, config, witness, waiting, log);
    }
  }
}
