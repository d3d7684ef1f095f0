import { HASH_SIZE } from "./merkle.js";
import {
  decodeStandardBase64,
  isValidKeyName,
  openNote,
  signNote,
  type NoteFailureCode,
  type NoteSigner,
  type NoteVerifier,
} from "./signed-note.js";

/**
 * A trace checkpoint: the body of a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint), signed as a C2SP
 * signed note. The body is exactly four lines, each ending in "\n":
 *
 *   aos.local/run/<run_id>                                   origin, chosen by the caller
 *   42                                                       tree size: decimal, no leading zeros
 *   <base64 of the 32-byte RFC 6962 Merkle root>             standard base64 with padding (44 characters)
 *   aos-chain-head <64 lowercase hex digits>                 the one extension line
 *
 * The extension line is the keyword "aos-chain-head", one space, and the hash chain's head (the last chain hash,
 * `root_hash`) as lowercase hex, so one signature covers both the Merkle root and the chain. Exactly one extension
 * line is allowed and required: a checkpoint without the chain head cannot be checked against the chain, and an
 * extra line would be a signed claim that no verifier checks.
 */
export const CHAIN_HEAD_EXTENSION = "aos-chain-head";

export interface Checkpoint {
  origin: string;
  treeSize: number;
  merkleRoot: Buffer;
  /** 64 lowercase hex digits, as step-hash.ts writes chain hashes. */
  chainHead: string;
}

export type CheckpointParseResult = { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string };

export type CheckpointFailureCode = NoteFailureCode | "MALFORMED_CHECKPOINT" | "ORIGIN_MISMATCH";

export type VerifiedCheckpoint =
  | { ok: true; checkpoint: Checkpoint; verifiedBy: string[] }
  | { ok: false; code: CheckpointFailureCode; reason: string };

const TREE_SIZE = /^(0|[1-9][0-9]*)$/;
const CHAIN_HEAD = /^[0-9a-f]{64}$/;
const EXTENSION_LINE = new RegExp(`^${CHAIN_HEAD_EXTENSION} ([0-9a-f]{64})$`);
const LINE_COUNT = 4;

export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, treeSize, merkleRoot, chainHead } = checkpoint;
  // Stricter than the spec's MUST (non-empty) so the origin can double as a signed-note key name, as it SHOULD.
  if (!isValidKeyName(origin)) throw new TypeError(`"${origin}" is not a valid origin (non-empty, no spaces or "+")`);
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new TypeError(`${treeSize} is not a valid tree size`);
  if (merkleRoot.length !== HASH_SIZE) throw new TypeError(`the root is ${merkleRoot.length} bytes, not ${HASH_SIZE}`);
  if (!CHAIN_HEAD.test(chainHead)) throw new TypeError(`the chain head "${chainHead}" is not 64 lowercase hex digits`);
  return `${origin}\n${treeSize}\n${merkleRoot.toString("base64")}\n${CHAIN_HEAD_EXTENSION} ${chainHead}\n`;
}

/** Parses a checkpoint body strictly: every field has exactly one accepted spelling. */
export function parseCheckpoint(text: string): CheckpointParseResult {
  if (!text.endsWith("\n")) return refuse("the checkpoint does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < LINE_COUNT) {
    const needed = `origin, tree size, root hash and the ${CHAIN_HEAD_EXTENSION} extension line`;
    return refuse(`the checkpoint has ${lines.length} lines; it needs ${LINE_COUNT}: ${needed}`);
  }
  if (lines.length > LINE_COUNT) {
    const extra = `only the one ${CHAIN_HEAD_EXTENSION} extension line may follow the root hash`;
    return refuse(`the checkpoint has ${lines.length} lines; ${extra}`);
  }
  const [origin, size, root, extension] = lines as [string, string, string, string];
  if (origin === "") return refuse("the origin line is empty");
  if (/[\u0000-\u001f]/.test(origin)) return refuse("the origin line holds a control character");
  if (!TREE_SIZE.test(size)) return refuse(`the tree size "${size}" is not a decimal without leading zeros`);
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) return refuse(`the tree size ${size} is too large`);
  const merkleRoot = decodeStandardBase64(root);
  if (merkleRoot === undefined) return refuse(`the root hash "${root}" is not canonical standard base64`);
  if (merkleRoot.length !== HASH_SIZE) return refuse(`the root hash is ${merkleRoot.length} bytes, not ${HASH_SIZE}`);
  const chainHead = EXTENSION_LINE.exec(extension)?.[1];
  if (chainHead === undefined) return refuse(`line 4 is not "${CHAIN_HEAD_EXTENSION} <64 lowercase hex digits>"`);
  return { ok: true, checkpoint: { origin, treeSize, merkleRoot, chainHead } };
}

/** Signs a checkpoint body; a body that does not parse is a caller's bug, so it throws. */
export function signCheckpoint(body: string, signers: NoteSigner | readonly NoteSigner[]): string {
  const parsed = parseCheckpoint(body);
  if (!parsed.ok) throw new TypeError(`cannot sign a malformed checkpoint: ${parsed.reason}`);
  return signNote(body, signers);
}

/**
 * Opens a signed checkpoint with the trusted verifier keys (old keys included, so rotation does not orphan
 * older proofs) and parses its body. With `origin`, a checkpoint made for another run is refused too.
 */
export function verifyCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: { origin?: string } = {},
): VerifiedCheckpoint {
  const opened = openNote(note, verifiers);
  if (!opened.ok) return opened;
  const parsed = parseCheckpoint(opened.text);
  if (!parsed.ok) return { ok: false, code: "MALFORMED_CHECKPOINT", reason: parsed.reason };
  const { origin } = parsed.checkpoint;
  if (options.origin !== undefined && origin !== options.origin) {
    const reason = `the checkpoint's origin is "${origin}", not "${options.origin}"`;
    return { ok: false, code: "ORIGIN_MISMATCH", reason };
  }
  return { ok: true, checkpoint: parsed.checkpoint, verifiedBy: opened.verifiedBy };
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
