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
 * signed note. Format v2 (docs/proofs.md) has exactly five lines, each ending in "\n":
 *
 *   aos.local/run/<run_id>                                   origin, chosen by the caller
 *   42                                                       tree size: decimal, no leading zeros
 *   <base64 of the 32-byte RFC 6962 Merkle root>             standard base64 with padding (44 characters)
 *   aos-format aos-trace-v2                                  the trace format the leaves follow
 *   aos-chain-head <64 lowercase hex digits>                 the hash chain's head
 *
 * Format v1 checkpoints have four lines: no format line. The line count decides the format, and a signature covers
 * the lines, so a v2 checkpoint can never be read as a v1 one. The chain head line lets one signature cover both the
 * Merkle root and the chain (which alone binds the trace header); no other extension line is allowed, since it
 * would be a signed claim no verifier checks.
 */
export const CHAIN_HEAD_EXTENSION = "aos-chain-head";
const FORMAT_EXTENSION = "aos-format";

export type TraceFormat = "aos-trace-v1" | "aos-trace-v2";

export interface Checkpoint {
  format: TraceFormat;
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
const V2_FORMAT_LINE = `${FORMAT_EXTENSION} aos-trace-v2`;

export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { format, origin, treeSize, merkleRoot, chainHead } = checkpoint;
  // Stricter than the spec's MUST (non-empty) so the origin can double as a signed-note key name, as it SHOULD.
  if (!isValidKeyName(origin)) throw new TypeError(`"${origin}" is not a valid origin (non-empty, no spaces or "+")`);
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new TypeError(`${treeSize} is not a valid tree size`);
  if (merkleRoot.length !== HASH_SIZE) throw new TypeError(`the root is ${merkleRoot.length} bytes, not ${HASH_SIZE}`);
  if (!CHAIN_HEAD.test(chainHead)) throw new TypeError(`the chain head "${chainHead}" is not 64 lowercase hex digits`);
  const formatLine = format === "aos-trace-v2" ? `${V2_FORMAT_LINE}\n` : "";
  return `${origin}\n${treeSize}\n${merkleRoot.toString("base64")}\n${formatLine}${CHAIN_HEAD_EXTENSION} ${chainHead}\n`;
}

/** Parses a checkpoint body strictly: every field has exactly one accepted spelling. */
export function parseCheckpoint(text: string): CheckpointParseResult {
  if (!text.endsWith("\n")) return refuse("the checkpoint does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  const needed = `origin, tree size, root hash, ${V2_FORMAT_LINE} (format v2) and the ${CHAIN_HEAD_EXTENSION} line`;
  if (lines.length < 4 || lines.length > 5) return refuse(`the checkpoint has ${lines.length} lines; it needs ${needed}`);
  const format: TraceFormat = lines.length === 5 ? "aos-trace-v2" : "aos-trace-v1";
  if (format === "aos-trace-v2" && lines[3] !== V2_FORMAT_LINE) return refuse(`line 4 is not "${V2_FORMAT_LINE}"`);
  const [origin, size, root] = lines as [string, string, string];
  const extension = lines.at(-1) as string;
  if (origin === "") return refuse("the origin line is empty");
  if (/[\u0000-\u001f]/.test(origin)) return refuse("the origin line holds a control character");
  if (!TREE_SIZE.test(size)) return refuse(`the tree size "${size}" is not a decimal without leading zeros`);
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) return refuse(`the tree size ${size} is too large`);
  const merkleRoot = decodeStandardBase64(root);
  if (merkleRoot === undefined) return refuse(`the root hash "${root}" is not canonical standard base64`);
  if (merkleRoot.length !== HASH_SIZE) return refuse(`the root hash is ${merkleRoot.length} bytes, not ${HASH_SIZE}`);
  const chainHead = EXTENSION_LINE.exec(extension)?.[1];
  if (chainHead === undefined) return refuse(`line ${lines.length} is not "${CHAIN_HEAD_EXTENSION} <64 lowercase hex digits>"`);
  return { ok: true, checkpoint: { format, origin, treeSize, merkleRoot, chainHead } };
}

/** A run trace's checkpoint origin names its log: one per run, under the signing key's name. */
export function checkpointOrigin(keyName: string, runId: string): string {
  return `${keyName}/run/${runId}`;
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
