import { leafHashOf, verifyInclusion } from "./merkle.js";
import type { RunEnd } from "./run-end.js";
import type { NoteVerifier } from "./signed-note.js";
import { openTenantCheckpoint, tenantLogOrigin } from "./tenant-checkpoint.js";
import { entryDisagreement, parseTenantLogEntry, type TenantLogEntry } from "./tenant-log-entry.js";
import type { ProofStatus } from "./verdict.js";

/**
 * The run → tenant-log half of a proof (docs/proofs.md, "The tenant log"): the run's entry, its index and audit
 * path, and a signed tenant checkpoint (with the witnesses' cosignatures on it), as a bundle carries them.
 */
export interface TenantLogProof {
  index: number;
  /** The entry's exact bytes (canonical JSON), as text. */
  entry: string;
  /** RFC 9162 PATH(index, D[tree size]) as lowercase hex, from the leaf up. */
  inclusion_proof: string[];
  /** The signed tenant checkpoint note, cosignature lines included. */
  checkpoint: string;
  /** An RFC 3161 timestamp token over the checkpoint's body (standard base64 of its DER), or null. */
  timestamp: string | null;
}

/** What a verifier found of a run's place in its tenant's log. */
export interface TenantLogVerdict {
  /** included: proven by the checkpoint; pending: ended moments ago, not yet integrated (database only). */
  state: "included" | "pending";
  index: number | null;
  /** The checkpoint's tree size and origin. */
  tree_size: number | null;
  origin: string | null;
  /** Witness keys (`name+keyid`) whose cosignatures on that checkpoint verified. */
  witnessed_by: string[];
  /** The time a trusted TSA's token gives the checkpoint (ISO 8601), or null when none was checked. */
  timestamp: string | null;
}

export type TenantLogCheck =
  | { ok: true; verdict: TenantLogVerdict; checkpointBody: string }
  | { ok: false; status: Extract<ProofStatus, "TAMPERED" | "UNTRUSTED_KEY">; field: string; reason: string };

/** The entry a verified run must have in its tenant's log: what its verified trace says, nothing read from elsewhere. */
export function expectedEntry(runEnd: RunEnd, treeSize: number, merkleRoot: string, chainHead: string): TenantLogEntry {
  return {
    kind: "tenant_log_entry",
    format: "aos-trace-v2",
    tenant_id: runEnd.tenant_id,
    run_id: runEnd.run_id,
    status: runEnd.status,
    completed_at: runEnd.completed_at,
    tree_size: treeSize,
    merkle_root: merkleRoot,
    chain_head: chainHead,
  };
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a run's tenant-log proof against the entry its verified trace implies: the entry says exactly that, its
 * leaf sits at `index` under the checkpoint's root, and the checkpoint is the tenant's log signed by a trusted key
 * of the same name as the run's checkpoint signer. The witness policy and timestamps are the caller's (they need
 * keys and certificates this function does not know about).
 */
export function checkTenantLogProof(proof: TenantLogProof, expected: TenantLogEntry, runSignerName: string, trusted: readonly NoteVerifier[]): TenantLogCheck {
  const fail = (field: string, reason: string, status: "TAMPERED" | "UNTRUSTED_KEY" = "TAMPERED"): TenantLogCheck => ({ ok: false, status, field: `tenant_log.${field}`, reason });
  const parsed = parseTenantLogEntry(proof.entry);
  if (!parsed.ok) return fail(`entry${parsed.member === "" ? "" : `.${parsed.member}`}`, `the tenant-log entry's ${parsed.member || "text"} is wrong: ${parsed.reason}`);
  const differs = entryDisagreement(parsed.value, expected);
  if (differs !== undefined) return fail(`entry.${differs}`, `the tenant log records this run's ${differs} as ${JSON.stringify(parsed.value[differs])}, but its trace says ${JSON.stringify(expected[differs])}`);
  const origin = tenantLogOrigin(runSignerName, expected.tenant_id);
  const opened = openTenantCheckpoint(proof.checkpoint, trusted, { origin });
  if (!opened.ok) return fail("checkpoint", opened.reason, opened.code === "UNTRUSTED_KEY" ? "UNTRUSTED_KEY" : "TAMPERED");
  const { treeSize, root } = opened.checkpoint;
  if (!Number.isSafeInteger(proof.index) || proof.index < 0 || proof.index >= treeSize) {
    return fail("index", `the entry's index ${proof.index} is not in the checkpoint's tree of ${treeSize} entries`);
  }
  if (!proof.inclusion_proof.every((hash) => HEX64.test(hash))) return fail("inclusion_proof", "a hash of the audit path is not 64 lowercase hex digits");
  const path = proof.inclusion_proof.map((hash) => Buffer.from(hash, "hex"));
  const leaf = leafHashOf(Buffer.from(proof.entry, "utf8"));
  if (!verifyInclusion(leaf, proof.index, treeSize, path, root)) {
    return fail("inclusion_proof", `the audit path does not lead from entry ${proof.index} to the checkpoint's root: the entry is not in the tenant's log as signed`);
  }
  const verdict: TenantLogVerdict = { state: "included", index: proof.index, tree_size: treeSize, origin, witnessed_by: [], timestamp: null };
  return { ok: true, verdict, checkpointBody: opened.body };
}
