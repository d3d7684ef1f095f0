import { HASH_SIZE } from "./merkle-nodes.js";
import { isValidKeyName, openNote, readNote, type NoteSigner, type NoteVerifier, signNote } from "./signed-note.js";
import { parseCheckpointBody } from "./witness-protocol.js";

/**
 * A tenant log's checkpoint: a plain C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) of exactly three
 * lines, with no extension line, so that any tlog-witness can cosign it:
 *
 *   <log key name>/tenant/<tenant id, percent-encoded>       origin
 *   1042                                                      tree size: decimal, no leading zeros
 *   <base64 of the 32-byte RFC 6962 root>                     standard base64 with padding
 *
 * Signed as a C2SP signed note by the log's key (the same Ed25519 key that signs run checkpoints); witnesses add
 * their cosignatures as further signature lines (tlog-cosignature), which verifiers count against their policy.
 */
export interface TenantCheckpoint {
  origin: string;
  treeSize: number;
  root: Buffer;
}

export type TenantCheckpointParse = { ok: true; checkpoint: TenantCheckpoint } | { ok: false; reason: string };

/**
 * The origin of a tenant's log under the log key's name. The tenant id is percent-encoded (encodeURIComponent), so
 * an id with spaces, "+" or non-ASCII letters still makes one origin line that is a valid key name.
 */
export function tenantLogOrigin(keyName: string, tenantId: string): string {
  return `${keyName}/tenant/${encodeURIComponent(tenantId)}`;
}

export function formatTenantCheckpoint({ origin, treeSize, root }: TenantCheckpoint): string {
  if (!isValidKeyName(origin)) throw new TypeError(`"${origin}" is not a valid origin (non-empty, no spaces or "+")`);
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new TypeError(`${treeSize} is not a valid tree size`);
  if (root.length !== HASH_SIZE) throw new TypeError(`the root is ${root.length} bytes, not ${HASH_SIZE}`);
  return `${origin}\n${treeSize}\n${root.toString("base64")}\n`;
}

/**
 * Parses a checkpoint body strictly (the three lines of a tlog-checkpoint, as a witness parses them), whose origin
 * must also be a valid key name, as formatTenantCheckpoint writes it.
 */
export function parseTenantCheckpoint(text: string): TenantCheckpointParse {
  const parsed = parseCheckpointBody(text);
  if (!parsed.ok) return parsed;
  const { origin, treeSize, rootHash } = parsed.checkpoint;
  if (!isValidKeyName(origin)) return { ok: false, reason: `the origin "${origin}" is empty or holds a space, "+" or a control character` };
  return { ok: true, checkpoint: { origin, treeSize, root: rootHash } };
}

export function signTenantCheckpoint(checkpoint: TenantCheckpoint, signer: NoteSigner): string {
  return signNote(formatTenantCheckpoint(checkpoint), signer);
}

export type VerifiedTenantCheckpoint =
  | { ok: true; checkpoint: TenantCheckpoint; body: string; signedBy: string }
  | { ok: false; code: "MALFORMED" | "UNTRUSTED_KEY" | "INVALID_SIGNATURE" | "WRONG_ORIGIN"; reason: string };

/**
 * Opens a signed tenant checkpoint: its body parses, and it carries a valid signature by a trusted key whose name
 * is the origin's log key name (a key signs only its own logs). Other lines (witness cosignatures, unknown keys)
 * are left to the caller's witness policy. With `origin`, a checkpoint of another tenant's log is refused.
 */
export function openTenantCheckpoint(note: string, trusted: readonly NoteVerifier[], options: { origin?: string } = {}): VerifiedTenantCheckpoint {
  const read = readNote(note);
  if (!read.ok) return { ok: false, code: "MALFORMED", reason: `the tenant checkpoint is not a signed note: ${read.reason}` };
  const parsed = parseTenantCheckpoint(read.text);
  if (!parsed.ok) return { ok: false, code: "MALFORMED", reason: `the tenant checkpoint is malformed: ${parsed.reason}` };
  const { origin } = parsed.checkpoint;
  if (options.origin !== undefined && origin !== options.origin) {
    return { ok: false, code: "WRONG_ORIGIN", reason: `the tenant checkpoint's origin is "${origin}", not "${options.origin}"` };
  }
  const keyName = origin.slice(0, origin.indexOf("/tenant/"));
  if (!origin.includes("/tenant/") || keyName === "") return { ok: false, code: "WRONG_ORIGIN", reason: `the origin "${origin}" is not "<key name>/tenant/<tenant id>"` };
  const logKeys = trusted.filter((key) => key.name === keyName);
  const opened = openNote(note, logKeys);
  if (opened.ok) return { ok: true, checkpoint: parsed.checkpoint, body: read.text, signedBy: `${keyName}+${opened.signatures.find((s) => s.status === "verified")?.keyId}` };
  if (opened.code === "INVALID_SIGNATURE") return { ok: false, code: "INVALID_SIGNATURE", reason: `the tenant checkpoint's log signature does not verify: ${opened.reason}` };
  if (opened.code === "MALFORMED_NOTE") return { ok: false, code: "MALFORMED", reason: opened.reason };
  const signers = read.signers.filter((s) => s.name === keyName).map((s) => `${s.name}+${s.keyId}`);
  const reason = signers.length === 0 ? `the tenant checkpoint carries no signature by a key named ${keyName}` : `the tenant checkpoint is signed by ${signers.join(", ")}, and none of them is a trusted key`;
  return { ok: false, code: "UNTRUSTED_KEY", reason };
}
