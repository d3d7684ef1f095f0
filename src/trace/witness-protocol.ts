import { HASH_SIZE } from "./merkle.js";
import { decodeStandardBase64, readNote, readNoteSignatures } from "./signed-note.js";

/**
 * The bodies of C2SP tlog-witness `add-checkpoint` (https://c2sp.org/tlog-witness, "add-checkpoint"): what a log
 * POSTs to `<submission prefix>/add-checkpoint`, and what a witness answers.
 *
 *   old 20                                            the size the witness last cosigned for this origin (0: never)
 *   PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=      consistency proof hashes from that size, base64, at most 63
 *   …
 *                                                     an empty line
 *   <origin>\n<size>\n<base64 root>\n\n— <log key> …  the signed checkpoint note
 *
 * 200 answers one or more cosignature lines (`— <witness> <base64>\n`); a 409 for a wrong old size answers the size
 * the witness has, in decimal and a newline, as `text/x.tlog.size`. Each value has one accepted spelling: decimals
 * without leading zeros, canonical standard base64 of 32-byte hashes, and a checkpoint body of exactly the three
 * lines the tenant log writes (origin, tree size, root; no extension lines).
 */
export const ADD_CHECKPOINT_PATH = "/add-checkpoint";
export const SIZE_CONTENT_TYPE = "text/x.tlog.size";
export const MAX_CONSISTENCY_PROOF_LINES = 63;
/** 63 proof lines and a note with 100 signature lines of 255-character names fit with room to spare. */
export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;
/** A witness answers one cosignature per key it holds; a note holds at most 100 signatures. */
export const MAX_COSIGNATURE_RESPONSE_BYTES = 64 * 1024;

export interface AddCheckpointRequest {
  oldSize: number;
  consistencyProof: Buffer[];
  /** The signed checkpoint note, as the log signed it (its own signature and any cosignatures). */
  note: string;
}

/** A C2SP tlog-checkpoint body's three lines. */
export interface CheckpointBody {
  origin: string;
  treeSize: number;
  rootHash: Buffer;
}

export type ParsedAddCheckpoint =
  | { ok: true; request: AddCheckpointRequest; checkpoint: CheckpointBody; text: string }
  | { ok: false; reason: string };

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const OLD_LINE = /^old (0|[1-9][0-9]*)$/;

export function formatAddCheckpoint(request: AddCheckpointRequest): string {
  const { oldSize, consistencyProof, note } = request;
  if (!Number.isSafeInteger(oldSize) || oldSize < 0) throw new TypeError(`${oldSize} is not a tree size`);
  if (consistencyProof.length > MAX_CONSISTENCY_PROOF_LINES) {
    throw new TypeError(`a consistency proof has at most ${MAX_CONSISTENCY_PROOF_LINES} hashes, not ${consistencyProof.length}`);
  }
  consistencyProof.forEach((hash, index) => {
    if (hash.length !== HASH_SIZE) throw new TypeError(`proof hash ${index + 1} is ${hash.length} bytes, not ${HASH_SIZE}`);
  });
  return `old ${oldSize}\n${consistencyProof.map((hash) => `${hash.toString("base64")}\n`).join("")}\n${note}`;
}

/**
 * Parses an add-checkpoint body strictly, with the checks the spec answers with 400: the shape of every line, at
 * most 63 proof hashes, none when the old size is 0, a well-formed note whose text is a checkpoint, and an old size
 * no larger than the checkpoint's. Signatures are not checked here.
 */
export function parseAddCheckpoint(body: string | Uint8Array): ParsedAddCheckpoint {
  const text = typeof body === "string" ? body : decodeUtf8(body);
  if (text === undefined) return refuse("the body is not valid UTF-8");
  const blank = text.indexOf("\n\n");
  if (blank < 0) return refuse("the body has no empty line between the old size and proof lines and the checkpoint");
  const [oldLine, ...proofLines] = text.slice(0, blank).split("\n") as [string, ...string[]];
  const old = OLD_LINE.exec(oldLine)?.[1];
  if (old === undefined) return refuse('the first line is not "old <size>" (a decimal without leading zeros)');
  const oldSize = Number(old);
  if (!Number.isSafeInteger(oldSize)) return refuse(`the old size ${old} is too large`);
  if (proofLines.length > MAX_CONSISTENCY_PROOF_LINES) {
    return refuse(`the consistency proof has ${proofLines.length} lines; at most ${MAX_CONSISTENCY_PROOF_LINES} are allowed`);
  }
  const consistencyProof: Buffer[] = [];
  for (const [index, line] of proofLines.entries()) {
    const hash = decodeStandardBase64(line);
    if (hash === undefined || hash.length !== HASH_SIZE) {
      return refuse(`consistency proof line ${index + 1} is not a ${HASH_SIZE}-byte hash in canonical standard base64`);
    }
    consistencyProof.push(hash);
  }
  if (oldSize === 0 && consistencyProof.length > 0) return refuse("the consistency proof must be empty when the old size is 0");
  const note = text.slice(blank + 2);
  const read = readNote(note);
  if (!read.ok) return refuse(`the checkpoint note is malformed: ${read.reason}`);
  const parsed = parseCheckpointBody(read.text);
  if (!parsed.ok) return parsed;
  const { checkpoint } = parsed;
  if (oldSize > checkpoint.treeSize) return refuse(`the old size ${oldSize} is larger than the checkpoint's size ${checkpoint.treeSize}`);
  return { ok: true, request: { oldSize, consistencyProof, note }, checkpoint, text: read.text };
}

/** A checkpoint body of exactly three lines: origin (non-empty), tree size, base64 root of 32 bytes. */
export function parseCheckpointBody(text: string): { ok: true; checkpoint: CheckpointBody } | { ok: false; reason: string } {
  if (!text.endsWith("\n")) return refuse("the checkpoint does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length !== 3) return refuse(`the checkpoint has ${lines.length} lines; it needs exactly origin, tree size and root hash`);
  const [origin, size, root] = lines as [string, string, string];
  if (origin === "") return refuse("the checkpoint's origin line is empty");
  if (/[\u0000-\u001f\u007f]/.test(origin)) return refuse("the checkpoint's origin line holds a control character");
  if (!DECIMAL.test(size)) return refuse(`the tree size "${size}" is not a decimal without leading zeros`);
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) return refuse(`the tree size ${size} is too large`);
  const rootHash = decodeStandardBase64(root);
  if (rootHash === undefined || rootHash.length !== HASH_SIZE) {
    return refuse(`the root hash "${root}" is not a ${HASH_SIZE}-byte hash in canonical standard base64`);
  }
  return { ok: true, checkpoint: { origin, treeSize, rootHash } };
}

/** The 200 body: the cosignature lines, each already ending in a newline. */
export function formatCosignatureResponse(lines: readonly string[]): string {
  return lines.join("");
}

/** A 200 body: one or more signature lines, each ending in a newline; returned one line each, with its newline. */
export function parseCosignatureResponse(body: string | Uint8Array): { ok: true; lines: string[] } | { ok: false; reason: string } {
  const text = typeof body === "string" ? body : decodeUtf8(body);
  if (text === undefined) return refuse("the cosignature response is not valid UTF-8");
  if (text === "") return refuse("the cosignature response is empty");
  // Parsed as the signature block of a note, so it obeys the same line rules and cap as a note's signatures.
  const parsed = readNoteSignatures(`-\n\n${text}`);
  if (!parsed.ok) return refuse(`the cosignature response is not signature lines: ${parsed.reason}`);
  return { ok: true, lines: text.slice(0, -1).split("\n").map((line) => `${line}\n`) };
}

/** The 409 body for a wrong old size, of type SIZE_CONTENT_TYPE. */
export function formatSizeConflict(treeSize: number): string {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new TypeError(`${treeSize} is not a tree size`);
  return `${treeSize}\n`;
}

export function parseSizeConflict(body: string | Uint8Array): { ok: true; treeSize: number } | { ok: false; reason: string } {
  const text = typeof body === "string" ? body : decodeUtf8(body);
  const size = text?.endsWith("\n") ? text.slice(0, -1) : undefined;
  if (size === undefined || !DECIMAL.test(size)) return refuse("the conflict body is not a decimal tree size and a newline");
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) return refuse(`the conflict's tree size ${size} is too large`);
  return { ok: true, treeSize };
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
