import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import {
  decodeStandardBase64,
  isValidKeyName,
  readNoteSignatures,
  signingKeyFromSeed,
  type KeyParseResult,
  type SignatureLine,
} from "./signed-note.js";

/**
 * Witness cosignatures, C2SP tlog-cosignature `cosignature/v1` with Ed25519 (https://c2sp.org/tlog-cosignature,
 * "Format" and "Ed25519 signed message"): a note signature line on a checkpoint,
 *
 *   — <witness name> base64(4-byte key id ‖ 8-byte big-endian timestamp ‖ 64-byte Ed25519 signature)\n
 *
 * key id = SHA-256(name ‖ "\n" ‖ 0x04 ‖ 32-byte public key)[:4], 0x04 being signed-note's signature type for
 * timestamped Ed25519 cosignatures; the signature is over
 *
 *   cosignature/v1\n
 *   time <timestamp, decimal>\n
 *   <the checkpoint body, with its final newline and without any signature line>
 *
 * Keys travel as text the way signed-note.ts writes log keys, with the type byte 0x04: a verifier key (a C2SP vkey,
 * as the spec allows) `<name>+<hex key id>+<base64(0x04 ‖ public key)>`, and a private key
 * `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 ‖ 32-byte seed)>`. The spec defines no private-key text; this one
 * mirrors golang.org/x/mod/sumdb/note's, with the key id and type byte of the cosignature, so the text cannot be
 * mistaken for a log's key and the type byte already says what it signs.
 */
export const COSIGNATURE_V1_TYPE = 0x04;

export interface WitnessVerifier {
  readonly name: string;
  /** Eight lowercase hex digits, derived with the type byte 0x04. */
  readonly keyId: string;
  readonly publicKey: Buffer;
}

export interface WitnessSigner extends WitnessVerifier {
  /** Ed25519 over the message as given: cosignedMessage builds it. */
  sign(message: Buffer): Buffer;
}

export interface WitnessKeyPair {
  signer: WitnessSigner;
  verifier: WitnessVerifier;
  /** PRIVATE+KEY+… text: a secret. */
  signerKey: string;
  /** vkey text, safe to publish. */
  verifierKey: string;
}

/** What a note carries from one witness: a verified cosignature (its time), none, or one that does not verify. */
export type WitnessCosignature =
  | { name: string; keyId: string; status: "verified"; timestamp: number }
  | { name: string; keyId: string; status: "missing" }
  | { name: string; keyId: string; status: "invalid"; reason: string };

export type CosignatureVerification = { ok: true; text: string; witnesses: WitnessCosignature[] } | { ok: false; reason: string };

const PRIVATE_KEY_PREFIX = "PRIVATE+KEY+";
const SIGNATURE_PREFIX = "\u2014 ";
const HEADER = "cosignature/v1\n";
const KEY_ID_SIZE = 4;
const TIMESTAMP_SIZE = 8;
const ED25519_SIGNATURE_SIZE = 64;
/** signed-note.ts's cap on a note's signatures, which addCosignatures keeps. */
const MAX_NOTE_SIGNATURES = 100;

export function cosignatureKeyId(name: string, publicKey: Buffer): string {
  const digest = createHash("sha256")
    .update(name, "utf8")
    .update("\n")
    .update(Buffer.from([COSIGNATURE_V1_TYPE]))
    .update(publicKey)
    .digest();
  return digest.subarray(0, KEY_ID_SIZE).toString("hex");
}

export function generateWitnessKey(name: string): WitnessKeyPair {
  return witnessKeyFromSeed(name, randomBytes(32));
}

/** Rebuilds a witness key pair from its 32-byte Ed25519 seed. */
export function witnessKeyFromSeed(name: string, seed: Buffer): WitnessKeyPair {
  // signed-note.ts owns the Ed25519 key handling; only the key id (type byte 0x04) differs for a witness.
  const ed25519 = signingKeyFromSeed(name, seed).signer;
  const verifier = makeVerifier(name, ed25519.publicKey);
  const signer: WitnessSigner = { ...verifier, sign: (message) => ed25519.sign(message) };
  const typedSeed = Buffer.concat([Buffer.from([COSIGNATURE_V1_TYPE]), seed]);
  return {
    signer,
    verifier,
    signerKey: `${PRIVATE_KEY_PREFIX}${name}+${verifier.keyId}+${typedSeed.toString("base64")}`,
    verifierKey: encodeWitnessVerifierKey(verifier),
  };
}

export function encodeWitnessVerifierKey(verifier: WitnessVerifier): string {
  const typedKey = Buffer.concat([Buffer.from([COSIGNATURE_V1_TYPE]), verifier.publicKey]);
  return `${verifier.name}+${cosignatureKeyId(verifier.name, verifier.publicKey)}+${typedKey.toString("base64")}`;
}

export function parseWitnessVerifierKey(vkey: string): KeyParseResult<WitnessVerifier> {
  const fields = splitKeyFields(vkey, "witness verifier key", "<name>+<key id>+<base64(0x04 ‖ public key)>");
  if (!fields.ok) return fields;
  const { name, keyId, material } = fields.key;
  if (material.length !== 32) return refuse(`the witness verifier key holds ${material.length} key bytes, not 32`);
  const expected = cosignatureKeyId(name, material);
  if (expected !== keyId) return refuse(`the witness verifier key's id is ${keyId} but its key hashes to ${expected}`);
  return { ok: true, key: makeVerifier(name, material) };
}

export function parseWitnessSignerKey(skey: string): KeyParseResult<WitnessSigner> {
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) return refuse(`a witness private key starts with "${PRIVATE_KEY_PREFIX}"`);
  const shape = `${PRIVATE_KEY_PREFIX}<name>+<key id>+<base64(0x04 ‖ seed)>`;
  const fields = splitKeyFields(skey.slice(PRIVATE_KEY_PREFIX.length), "witness private key", shape);
  if (!fields.ok) return fields;
  const { name, keyId, material } = fields.key;
  if (material.length !== 32) return refuse(`the witness private key holds ${material.length} seed bytes, not 32`);
  const { signer } = witnessKeyFromSeed(name, material);
  if (signer.keyId !== keyId) return refuse(`the witness private key's id is ${keyId} but its public key hashes to ${signer.keyId}`);
  return { ok: true, key: signer };
}

/** The message a cosignature/v1 signs: header line, time line, then the checkpoint body. */
export function cosignedMessage(body: string, timeSeconds: number | bigint): Buffer {
  return Buffer.from(`${HEADER}time ${timeSeconds.toString()}\n${body}`, "utf8");
}

/**
 * Cosigns a checkpoint body (its text without signature lines) at `timeSeconds` (POSIX seconds) and returns the
 * signature line, ending in "\n" as the witness protocol sends it. A body that is not checkpoint-shaped (lines
 * ending in newlines, none empty, at least three) is a caller's bug, so it throws.
 */
export function cosignCheckpoint(body: string, signer: WitnessSigner, timeSeconds: number): string {
  const lines = body.endsWith("\n") ? body.slice(0, -1).split("\n") : [];
  if (lines.length < 3 || lines.some((line) => line === "")) {
    throw new TypeError("cannot cosign this text: a checkpoint body is at least three non-empty lines, each ending in a newline");
  }
  if (!Number.isSafeInteger(timeSeconds) || timeSeconds < 0) throw new TypeError(`${timeSeconds} is not a POSIX time in seconds`);
  if (!isValidKeyName(signer.name)) throw new TypeError(`"${signer.name}" is not a valid key name`);
  const timestamp = Buffer.alloc(TIMESTAMP_SIZE);
  timestamp.writeBigUInt64BE(BigInt(timeSeconds));
  const keyId = Buffer.from(cosignatureKeyId(signer.name, signer.publicKey), "hex");
  const signature = Buffer.concat([keyId, timestamp, signer.sign(cosignedMessage(body, timeSeconds))]);
  return `${SIGNATURE_PREFIX}${signer.name} ${signature.toString("base64")}\n`;
}

/**
 * Appends signature lines (each "— name base64…\n", as a witness answers) to a signed note, after the signatures it
 * has; a line the note already carries is not added twice. Checks the shape of the note and of every line, not
 * their signatures: verifyCosignatures does that.
 */
export function addCosignatures(note: string, lines: readonly string[]): { ok: true; note: string } | { ok: false; reason: string } {
  const parsed = readNoteSignatures(note);
  if (!parsed.ok) return refuse(`the note is malformed: ${parsed.reason}`);
  // Base64 is canonical here (decodeStandardBase64), so a parsed line written out again is the line as it was.
  const present = new Set(parsed.lines.map(signatureLineText));
  const added: string[] = [];
  for (const [index, line] of lines.entries()) {
    const single = readNoteSignatures(`x\n\n${line}`);
    if (!line.endsWith("\n") || !single.ok || single.lines.length !== 1) {
      return refuse(`cosignature ${index + 1} is not one signature line ("— <name> <base64>" and a newline)`);
    }
    if (!present.has(line)) added.push(line);
    present.add(line);
  }
  if (parsed.lines.length + added.length > MAX_NOTE_SIGNATURES) return refuse(`a note holds at most ${MAX_NOTE_SIGNATURES} signatures`);
  return { ok: true, note: `${note}${added.join("")}` };
}

/**
 * For each witness, whether the note carries a valid cosignature/v1 by it, and when it was made. Lines by other keys
 * (the log's own Ed25519 signature, unknown witnesses, a known name with another key id) are ignored, as the
 * signed-note spec requires; a line by a known witness key that does not verify makes that witness "invalid" (a
 * witness with several lines is verified only when all of them verify, and reports the latest time). Timestamps
 * past 2^53 - 1 seconds are refused as lying in the future, which the spec lets verifiers do.
 */
export function verifyCosignatures(note: string | Uint8Array, witnesses: readonly WitnessVerifier[]): CosignatureVerification {
  const parsed = readNoteSignatures(note);
  if (!parsed.ok) return refuse(`the note is malformed: ${parsed.reason}`);
  const results = witnesses.map((witness): WitnessCosignature => {
    // The key id is derived again rather than trusted, so a hand-built verifier cannot claim another key's id.
    const { name, keyId, publicKey } = makeVerifier(witness.name, witness.publicKey);
    const lines = parsed.lines.filter((line) => line.name === name && line.keyId === keyId);
    if (lines.length === 0) return { name, keyId, status: "missing" };
    let latest = 0;
    for (const line of lines) {
      const checked = checkCosignature(parsed.text, publicKey, line.signature);
      if (typeof checked === "string") return { name, keyId, status: "invalid", reason: checked };
      latest = Math.max(latest, checked);
    }
    return { name, keyId, status: "verified", timestamp: latest };
  });
  return { ok: true, text: parsed.text, witnesses: results };
}

/** The cosignature's timestamp when it verifies, or what is wrong with it. `bytes` follow the 4-byte key id. */
function checkCosignature(text: string, publicKey: Buffer, bytes: Buffer): number | string {
  if (bytes.length !== TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE) {
    return `the cosignature holds ${bytes.length} bytes after its key id, not ${TIMESTAMP_SIZE} + ${ED25519_SIGNATURE_SIZE}`;
  }
  const timestamp = bytes.readBigUInt64BE(0);
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return `the cosignature's timestamp ${timestamp} lies in the future`;
  return verifyEd25519(publicKey, cosignedMessage(text, timestamp), bytes.subarray(TIMESTAMP_SIZE))
    ? Number(timestamp)
    : "the cosignature does not verify";
}

function verifyEd25519(publicKey: Buffer, message: Buffer, signature: Buffer): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey.toString("base64url") }, format: "jwk" });
    return verify(null, message, key, signature);
  } catch {
    // A public key that is not a curve point cannot have made any signature.
    return false;
  }
}

function signatureLineText(line: SignatureLine): string {
  const bytes = Buffer.concat([Buffer.from(line.keyId, "hex"), line.signature]);
  return `${SIGNATURE_PREFIX}${line.name} ${bytes.toString("base64")}\n`;
}

function splitKeyFields(text: string, what: string, shape: string): KeyParseResult<{ name: string; keyId: string; material: Buffer }> {
  // The name holds no "+", so the first two split it off; base64 may hold "+" itself, so the rest is the key.
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (second < 0) return refuse(`a ${what} has the form ${shape}`);
  const name = text.slice(0, first);
  const keyId = text.slice(first + 1, second);
  if (!isValidKeyName(name)) return refuse(`the ${what} has an invalid key name "${name}"`);
  if (!/^[0-9a-f]{8}$/.test(keyId)) return refuse(`the ${what}'s key id "${keyId}" is not 8 lowercase hex digits`);
  const typed = decodeStandardBase64(text.slice(second + 1));
  if (typed === undefined) return refuse(`the ${what}'s key is not canonical standard base64`);
  if (typed[0] !== COSIGNATURE_V1_TYPE) {
    const type = `0x${typed[0]!.toString(16).padStart(2, "0")}`;
    const hint = typed[0] === 0x01 ? " (0x01 is a log's note key, not a witness key)" : "";
    return refuse(`the ${what} has signature type ${type}${hint}; a witness key has type 0x04 (cosignature/v1, Ed25519)`);
  }
  return { ok: true, key: { name, keyId, material: typed.subarray(1) } };
}

function makeVerifier(name: string, publicKey: Buffer): WitnessVerifier {
  if (!isValidKeyName(name)) throw new TypeError(`"${name}" is not a valid key name (no spaces or "+")`);
  if (publicKey.length !== 32) throw new TypeError(`an Ed25519 public key is 32 bytes, not ${publicKey.length}`);
  return { name, keyId: cosignatureKeyId(name, publicKey), publicKey: Buffer.from(publicKey) };
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
