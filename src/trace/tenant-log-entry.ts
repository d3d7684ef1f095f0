import type { Bytes } from "./digest.js";
import { isCount, isHex64, isString, isTimestamp, literal, oneOf } from "./record-shape.js";
import { encodeRecord, type Parsed, parseRecord } from "./trace-header.js";

/**
 * A leaf of a tenant's log (docs/proofs.md, "The tenant log"): one finished run, as its signed trace checkpoint
 * states it (tree size, Merkle root, chain head) with the final status its run-end records. Its canonical JSON bytes
 * are the log entry; the leaf hash is RFC 6962's SHA-256(0x00 ‖ bytes), as for tlog-tiles entries.
 */
export interface TenantLogEntry {
  kind: "tenant_log_entry";
  format: "aos-trace-v2";
  tenant_id: string;
  run_id: string;
  status: "succeeded" | "failed" | "halted" | "cancelled";
  completed_at: string;
  tree_size: number;
  merkle_root: string;
  chain_head: string;
}

const ENTRY_MEMBERS = {
  kind: literal("tenant_log_entry"),
  format: literal("aos-trace-v2"),
  tenant_id: isString,
  run_id: isString,
  status: oneOf(["succeeded", "failed", "halted", "cancelled"]),
  completed_at: isTimestamp,
  tree_size: isCount,
  merkle_root: isHex64,
  chain_head: isHex64,
};

export function encodeTenantLogEntry(entry: TenantLogEntry): Buffer {
  return encodeRecord(entry);
}

export function parseTenantLogEntry(bytes: Bytes): Parsed<TenantLogEntry> {
  return parseRecord<TenantLogEntry>(bytes, ENTRY_MEMBERS);
}

/** The members of an entry, in the order a verifier compares them with the run they claim to log. */
export const ENTRY_FACTS = ["tenant_id", "run_id", "status", "completed_at", "tree_size", "merkle_root", "chain_head"] as const;

/** The first member on which two entries differ, or undefined. */
export function entryDisagreement(logged: TenantLogEntry, expected: TenantLogEntry): (typeof ENTRY_FACTS)[number] | undefined {
  return ENTRY_FACTS.find((member) => logged[member] !== expected[member]);
}
