import {
  verifyCheckpoint,
  type Checkpoint,
  type CheckpointFailureCode,
  type VerifiedCheckpoint,
} from "./checkpoint.js";
import { HASH_SIZE, leafHashOf, verifyInclusion } from "./merkle.js";
import { decodeStandardBase64, openNote, type NoteVerifier } from "./signed-note.js";

/**
 * A single-step inclusion proof as a C2SP tlog-proof (https://c2sp.org/tlog-proof), a self-contained text that
 * proves one trace step without revealing the others:
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64 of the step's canonical bytes>     the only optional line, and only in this place
 *   index <leaf index: decimal, no leading zeros>
 *   <base64 audit-path hash>                          zero or more, RFC 9162 order (leaf's sibling first)
 *   <blank line>
 *   <the signed checkpoint note, verbatim, ending in "\n">
 *
 * The spec calls `extra` opaque and unauthenticated. AOS puts the step content's RFC 8785 bytes there and never
 * trusts them as such: the verifier hashes them into the leaf, so they count only if the signed root covers them.
 */
export const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  /** Unauthenticated until verified; in AOS, JCS(step content), whose leaf hash is SHA-256(0x00 ‖ extra). */
  extra: Buffer | undefined;
  index: number;
  /** RFC 9162 PATH(index, D[treeSize]), ordered from the leaf up. */
  auditPath: Buffer[];
  /** The complete signed note: checkpoint body, blank line, signature lines. */
  checkpointNote: string;
}

export type TlogProofParseResult = { ok: true; proof: TlogProof } | { ok: false; reason: string };

export type TlogProofFailureCode =
  | CheckpointFailureCode
  | "MALFORMED_PROOF"
  | "NO_LEAF_CONTENT"
  | "INDEX_OUT_OF_RANGE"
  | "AUDIT_PATH_MISMATCH";

export type VerifiedTlogProof =
  | {
      ok: true;
      index: number;
      treeSize: number;
      /** SHA-256(0x00 ‖ extra), lowercase hex, as trace step rows store leaf hashes. */
      leafHash: string;
      extra: Buffer;
      checkpoint: Checkpoint;
      verifiedBy: string[];
    }
  | { ok: false; code: TlogProofFailureCode; reason: string };

const EXTRA_PREFIX = "extra ";
const INDEX_PREFIX = "index ";
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Formats a proof; input that parseTlogProof would refuse is a caller's bug, so it throws. */
export function formatTlogProof(proof: TlogProof): string {
  const { extra, index, auditPath, checkpointNote } = proof;
  if (!Number.isSafeInteger(index) || index < 0) throw new TypeError(`${index} is not a valid leaf index`);
  auditPath.forEach((hash, position) => {
    if (hash.length !== HASH_SIZE) {
      throw new TypeError(`audit-path hash ${position + 1} is ${hash.length} bytes, not ${HASH_SIZE}`);
    }
  });
  const problem = checkpointNoteProblem(checkpointNote);
  if (problem !== undefined) throw new TypeError(`cannot put this checkpoint in a proof: it ${problem}`);
  const lines = [
    TLOG_PROOF_HEADER,
    ...(extra === undefined ? [] : [`${EXTRA_PREFIX}${extra.toString("base64")}`]),
    `${INDEX_PREFIX}${index}`,
    ...auditPath.map((hash) => hash.toString("base64")),
  ];
  return `${lines.join("\n")}\n\n${checkpointNote}`;
}

/** Parses a proof strictly; the checkpoint must be a well-formed signed note, but its body is checked later. */
export function parseTlogProof(text: string): TlogProofParseResult {
  const lines = text.split("\n");
  if (lines[0] !== TLOG_PROOF_HEADER) return malformed(1, `is not "${TLOG_PROOF_HEADER}"`);
  let at = 1;
  let extra: Buffer | undefined;
  if (lines[at]?.startsWith(EXTRA_PREFIX)) {
    extra = decodeExtra((lines[at] as string).slice(EXTRA_PREFIX.length));
    if (extra === undefined) return malformed(at + 1, "does not hold canonical standard base64 extra data");
    at += 1;
  }
  const index = parseIndexLine(lines[at]);
  if (typeof index === "string") return malformed(at + 1, index);
  at += 1;
  const auditPath: Buffer[] = [];
  for (; at < lines.length && lines[at] !== ""; at += 1) {
    const hash = decodeStandardBase64(lines[at] as string);
    if (hash === undefined) return malformed(at + 1, "is neither a blank line nor a standard base64 audit-path hash");
    if (hash.length !== HASH_SIZE) return malformed(at + 1, `holds ${hash.length} bytes, not a ${HASH_SIZE}-byte hash`);
    auditPath.push(hash);
  }
  if (at === lines.length) return refuse("the proof ends before the blank line that precedes the checkpoint");
  // Joining what follows the blank line gives back the note byte for byte, signature lines included.
  const checkpointNote = lines.slice(at + 1).join("\n");
  const problem = checkpointNoteProblem(checkpointNote);
  if (problem !== undefined) return malformed(at + 2, `the checkpoint ${problem}`);
  return { ok: true, proof: { extra, index, auditPath, checkpointNote } };
}

/**
 * Verifies a proof offline: the checkpoint's signature by a trusted key (and its origin, if given), then that
 * the leaf hashed from `extra` sits at `index` in the tree whose root the checkpoint signed.
 */
export function verifyTlogProof(
  text: string,
  verifiers: readonly NoteVerifier[],
  options: { origin?: string } = {},
): VerifiedTlogProof {
  const parsed = parseTlogProof(text);
  if (!parsed.ok) return { ok: false, code: "MALFORMED_PROOF", reason: parsed.reason };
  const { extra, index, auditPath, checkpointNote } = parsed.proof;
  const opened = verifyCheckpoint(checkpointNote, verifiers, options);
  if (!opened.ok) return { ok: false, code: opened.code, reason: checkpointFailure(opened) };
  const { checkpoint, verifiedBy } = opened;
  if (extra === undefined) {
    const reason = "no leaf content: the proof has no extra line holding the step's canonical content";
    return { ok: false, code: "NO_LEAF_CONTENT", reason };
  }
  const { treeSize, merkleRoot } = checkpoint;
  if (index >= treeSize) {
    const reason = `index out of range: leaf ${index} is not in the checkpoint's tree of ${treeSize} leaves`;
    return { ok: false, code: "INDEX_OUT_OF_RANGE", reason };
  }
  const leaf = leafHashOf(extra);
  if (!verifyInclusion(leaf, index, treeSize, auditPath, merkleRoot)) {
    return { ok: false, code: "AUDIT_PATH_MISMATCH", reason: pathFailure(leaf, index, treeSize, auditPath.length) };
  }
  return { ok: true, index, treeSize, leafHash: leaf.toString("hex"), extra, checkpoint, verifiedBy };
}

/** Returns the index, or what is wrong with its line. */
function parseIndexLine(line: string | undefined): number | string {
  if (line === undefined || line === "") return `is not "${INDEX_PREFIX}<decimal leaf index>"; the proof ends early`;
  if (!line.startsWith(INDEX_PREFIX)) return `is not "${INDEX_PREFIX}<decimal leaf index>"`;
  const digits = line.slice(INDEX_PREFIX.length);
  if (!DECIMAL.test(digits)) return `the index "${digits}" is not a decimal without leading zeros`;
  const index = Number(digits);
  return Number.isSafeInteger(index) ? index : `the index ${digits} is too large`;
}

/** `extra ` with nothing after it is zero bytes of extra data, as Go's encoder writes it. */
function decodeExtra(text: string): Buffer | undefined {
  return text === "" ? Buffer.alloc(0) : decodeStandardBase64(text);
}

/** What is wrong with the checkpoint note, phrased to follow "the checkpoint", or undefined. */
function checkpointNoteProblem(note: string): string | undefined {
  if (note === "") return "is missing";
  if (note.startsWith("\n")) return "starts with a blank line; exactly one separates it from the audit path";
  // With no trusted keys openNote parses the whole note and can then fail only for want of a known key, so
  // MALFORMED_NOTE is exactly "not a signed note"; signatures are checked when the proof is verified.
  const opened = openNote(note, []);
  if (!opened.ok && opened.code === "MALFORMED_NOTE") return `is not a signed note: ${opened.reason}`;
  return undefined;
}

function checkpointFailure(failure: Extract<VerifiedCheckpoint, { ok: false }>): string {
  switch (failure.code) {
    case "INVALID_SIGNATURE":
      return `bad signature on the checkpoint: ${failure.reason}`;
    case "UNKNOWN_KEY":
      return `unknown key: the checkpoint is signed by no trusted key; ${failure.reason}`;
    case "ORIGIN_MISMATCH":
      return `wrong checkpoint: ${failure.reason}`;
    case "MALFORMED_NOTE":
    case "MALFORMED_CHECKPOINT":
      return `malformed checkpoint: ${failure.reason}`;
  }
}

function pathFailure(leaf: Buffer, index: number, treeSize: number, pathLength: number): string {
  const prefix = "audit path does not lead to the checkpoint's root";
  const needed = auditPathLength(index, treeSize);
  if (pathLength !== needed) {
    return `${prefix}: it has ${pathLength} hashes, but leaf ${index} of a ${treeSize}-leaf tree needs ${needed}`;
  }
  const leafHex = leaf.toString("hex");
  return `${prefix}: the extra data (leaf hash ${leafHex}) is not the logged leaf ${index}, or a path hash is wrong`;
}

/** The length of RFC 9162 PATH(index, D[treeSize]): one hash per split on the way down to the leaf. */
function auditPathLength(index: number, treeSize: number): number {
  let length = 0;
  let start = 0;
  let end = treeSize;
  while (end - start > 1) {
    let half = 1;
    while (half * 2 < end - start) half *= 2;
    if (index < start + half) end = start + half;
    else start += half;
    length += 1;
  }
  return length;
}

function malformed(line: number, problem: string): { ok: false; reason: string } {
  return refuse(`malformed line ${line}: ${problem}`);
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
