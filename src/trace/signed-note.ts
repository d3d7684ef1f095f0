import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, interoperable with golang.org/x/mod/sumdb/note:
 *
 *   <text ending in "\n">
 *   <blank line>
 *   — <key name> <base64(4-byte key id ‖ 64-byte signature)>\n      (one line per signature; U+2014 em dash)
 *
 * key id = SHA-256(name ‖ "\n" ‖ 0x01 ‖ 32-byte public key)[:4], 0x01 being the Ed25519 signature type.
 * Keys travel as text: verifier keys `<name>+<hex id>+<base64(0x01 ‖ public key)>`, signer keys
 * `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ 32-byte seed)>`.
 */
const ED25519_SIGNATURE_TYPE = 0x01;
/** The Go implementation's cap; the spec asks verifiers to accept at least 16. */
const MAX_NOTE_SIGNATURES = 100;

export interface NoteVerifier {
  readonly name: string;
  /** Eight lowercase hex digits. */
  readonly keyId: string;
  readonly publicKey: Buffer;
}

export interface NoteSigner extends NoteVerifier {
  sign(message: Buffer): Buffer;
}

export interface SigningKeyPair {
  signer: NoteSigner;
  verifier: NoteVerifier;
  /** PRIVATE+KEY+… text: a secret, to be stored outside the database. */
  signerKey: string;
  /** C2SP vkey text, safe to publish. */
  verifierKey: string;
}

export type KeyParseResult<T> = { ok: true; key: T } | { ok: false; reason: string };

export interface NoteSignature {
  name: string;
  keyId: string;
  /** "unknown_key": no verifier has this name and key id, so the spec says to ignore the signature. */
  status: "verified" | "unknown_key";
}

export type NoteFailureCode = "MALFORMED_NOTE" | "INVALID_SIGNATURE" | "UNKNOWN_KEY";

export type OpenedNote =
  | { ok: true; text: string; verifiedBy: string[]; signatures: NoteSignature[] }
  | { ok: false; code: NoteFailureCode; reason: string };

const SIGNATURE_PREFIX = "\u2014 ";
const PRIVATE_KEY_PREFIX = "PRIVATE+KEY+";
const ED25519_SIGNATURE_SIZE = 64;
// RFC 8410 DER headers: wrapped in them, raw Ed25519 key bytes import into node:crypto without a JWK detour.
const PKCS8_SEED_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_KEY_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function keyIdFor(name: string, publicKey: Buffer): string {
  const digest = createHash("sha256")
    .update(name, "utf8")
    .update("\n")
    .update(Buffer.from([ED25519_SIGNATURE_TYPE]))
    .update(publicKey)
    .digest();
  return digest.subarray(0, 4).toString("hex");
}

/**
 * Non-empty, with no Unicode white space and no "+", as the spec requires; control characters (C0, DEL, C1) are
 * refused too, since a note holding one is malformed.
 */
export function isValidKeyName(name: string): boolean {
  return name !== "" && isWellFormed(name) && !/[\p{White_Space}+\p{Cc}]/u.test(name);
}

/**
 * Standard base64 with padding (RFC 4648 §4, the encoding C2SP specs use throughout), refusing anything that does
 * not re-encode to the same text, so each value has exactly one accepted spelling.
 */
export function decodeStandardBase64(text: string): Buffer | undefined {
  if (text === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

/** An RFC 8032 Ed25519 private key is 32 random bytes; everything else is derived from them. */
export function generateSigningKey(name: string): SigningKeyPair {
  return signingKeyFromSeed(name, randomBytes(32));
}

/** Rebuilds a key pair from its 32-byte Ed25519 seed. */
export function signingKeyFromSeed(name: string, seed: Buffer): SigningKeyPair {
  if (!isValidKeyName(name)) throw new TypeError(`"${name}" is not a valid key name (no spaces or "+")`);
  if (seed.length !== 32) throw new TypeError(`an Ed25519 seed is 32 bytes, not ${seed.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  const verifier = makeVerifier(name, publicKey);
  const signer: NoteSigner = { ...verifier, sign: (message) => sign(null, message, privateKey) };
  const typedSeed = Buffer.concat([Buffer.from([ED25519_SIGNATURE_TYPE]), seed]);
  return {
    signer,
    verifier,
    signerKey: `${PRIVATE_KEY_PREFIX}${name}+${verifier.keyId}+${typedSeed.toString("base64")}`,
    verifierKey: encodeVerifierKey(verifier),
  };
}

export function encodeVerifierKey(verifier: NoteVerifier): string {
  const typedKey = Buffer.concat([Buffer.from([ED25519_SIGNATURE_TYPE]), verifier.publicKey]);
  return `${verifier.name}+${keyIdFor(verifier.name, verifier.publicKey)}+${typedKey.toString("base64")}`;
}

export function verifierFromPublicKey(name: string, publicKey: Buffer): NoteVerifier {
  if (!isValidKeyName(name)) throw new TypeError(`"${name}" is not a valid key name (no spaces or "+")`);
  if (publicKey.length !== 32) throw new TypeError(`an Ed25519 public key is 32 bytes, not ${publicKey.length}`);
  return makeVerifier(name, publicKey);
}

export function parseVerifierKey(vkey: string): KeyParseResult<NoteVerifier> {
  const fields = splitKeyFields(vkey, "verifier key", "<name>+<key id>+<base64 key>");
  if (!fields.ok) return fields;
  const { name, keyId, material } = fields.key;
  if (material.length !== 32) return refuse(`the verifier key holds ${material.length} key bytes, not 32`);
  const expectedId = keyIdFor(name, material);
  if (expectedId !== keyId) return refuse(`the verifier key's id is ${keyId} but its key hashes to ${expectedId}`);
  return { ok: true, key: makeVerifier(name, material) };
}

export function parseSignerKey(skey: string): KeyParseResult<NoteSigner> {
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) return refuse(`a signer key starts with "${PRIVATE_KEY_PREFIX}"`);
  const shape = `${PRIVATE_KEY_PREFIX}<name>+<key id>+<base64 seed>`;
  const fields = splitKeyFields(skey.slice(PRIVATE_KEY_PREFIX.length), "signer key", shape);
  if (!fields.ok) return fields;
  const { name, keyId, material } = fields.key;
  if (material.length !== 32) return refuse(`the signer key holds ${material.length} seed bytes, not 32`);
  const { signer } = signingKeyFromSeed(name, material);
  if (signer.keyId !== keyId) {
    return refuse(`the signer key's id is ${keyId} but its public key hashes to ${signer.keyId}`);
  }
  return { ok: true, key: signer };
}

/** The 32-byte Ed25519 seed inside a signer key's text (already parsed and checked by parseSignerKey). */
export function signerKeySeed(skey: string): Buffer {
  const fields = splitKeyFields(skey.slice(PRIVATE_KEY_PREFIX.length), "signer key", "");
  if (!fields.ok || !skey.startsWith(PRIVATE_KEY_PREFIX)) throw new TypeError(`not a signer key: ${fields.ok ? "no prefix" : fields.reason}`);
  return fields.key.material;
}

/** Signs `text` (which must end in a newline) and returns the note; throws on text or names a note cannot hold. */
export function signNote(text: string, signers: NoteSigner | readonly NoteSigner[]): string {
  if (!text.endsWith("\n")) throw new TypeError("cannot sign this text: it does not end in a newline");
  const problem = characterProblem(text);
  if (problem !== undefined) throw new TypeError(`cannot sign this text: it ${problem}`);
  const list = Array.isArray(signers) ? signers : [signers as NoteSigner];
  if (list.length === 0) throw new TypeError("a note needs at least one signer");
  if (list.length > MAX_NOTE_SIGNATURES) throw new TypeError(`a note holds at most ${MAX_NOTE_SIGNATURES} signatures`);
  const message = Buffer.from(text, "utf8");
  const lines = list.map((signer) => {
    if (!isValidKeyName(signer.name)) throw new TypeError(`"${signer.name}" is not a valid key name`);
    const keyId = Buffer.from(keyIdFor(signer.name, signer.publicKey), "hex");
    const signature = Buffer.concat([keyId, signer.sign(message)]);
    return `${SIGNATURE_PREFIX}${signer.name} ${signature.toString("base64")}\n`;
  });
  return `${text}\n${lines.join("")}`;
}

/**
 * Parses a note strictly and checks its signatures. Signatures by unknown keys are reported and otherwise
 * ignored, as the spec requires; one bad signature by a known key fails the whole note; and at least one
 * signature by a known key must verify.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(note);
  if (!parsed.ok) return { ok: false, code: "MALFORMED_NOTE", reason: parsed.reason };
  // Key ids are derived again rather than trusted, so a hand-built verifier cannot claim another key's id.
  const keys = verifiers.map((v) => makeVerifier(v.name, v.publicKey));
  const message = Buffer.from(parsed.text, "utf8");
  const signatures: NoteSignature[] = [];
  for (const { name, keyId, signature } of parsed.lines) {
    const known = keys.filter((v) => v.name === name && v.keyId === keyId);
    if (known.length === 0) {
      signatures.push({ name, keyId, status: "unknown_key" });
    } else if (known.some((verifier) => verifySignature(verifier, message, signature))) {
      signatures.push({ name, keyId, status: "verified" });
    } else {
      return { ok: false, code: "INVALID_SIGNATURE", reason: `the signature by ${name}+${keyId} does not verify` };
    }
  }
  const verifiedBy = [...new Set(signatures.filter((s) => s.status === "verified").map((s) => s.name))];
  if (verifiedBy.length === 0) return { ok: false, code: "UNKNOWN_KEY", reason: noKnownKeyReason(signatures, keys) };
  return { ok: true, text: parsed.text, verifiedBy, signatures };
}

/** A note's text and who signed it, read without checking any signature (to say whose key it is). */
export type ReadNote = { ok: true; text: string; signers: { name: string; keyId: string }[] } | { ok: false; reason: string };

export function readNote(note: string | Uint8Array): ReadNote {
  const parsed = parseNote(note);
  if (!parsed.ok) return parsed;
  return { ok: true, text: parsed.text, signers: parsed.lines.map(({ name, keyId }) => ({ name, keyId })) };
}

/** One signature line of a note: the key name, the 4-byte key id (as hex) and the signature bytes after it. */
export interface SignatureLine {
  name: string;
  keyId: string;
  signature: Buffer;
}

export type ParsedNote = { ok: true; text: string; lines: SignatureLine[] } | { ok: false; reason: string };

/**
 * A note's text and its signature lines with their bytes, parsed strictly and checked against nothing: for
 * signature types other than Ed25519 (0x01), whose messages are not the note text (cosignatures, tlog-cosignature).
 */
export function readNoteSignatures(note: string | Uint8Array): ParsedNote {
  return parseNote(note);
}

function parseNote(note: string | Uint8Array): ParsedNote {
  const decoded = typeof note === "string" ? note : decodeUtf8(note);
  if (decoded === undefined) return refuse("the note is not valid UTF-8");
  const problem = characterProblem(decoded);
  if (problem !== undefined) return refuse(`the note ${problem}`);
  // The spec separates text from signatures at the last blank line: the text itself may hold blank lines.
  const split = decoded.lastIndexOf("\n\n");
  if (split < 0) return refuse("the note has no blank line between its text and its signatures");
  const text = decoded.slice(0, split + 1);
  const block = decoded.slice(split + 2);
  if (block === "") return refuse("the note has no signature lines after its blank line");
  if (!block.endsWith("\n")) return refuse("the note's last signature line does not end in a newline");
  const rawLines = block.slice(0, -1).split("\n");
  if (rawLines.length > MAX_NOTE_SIGNATURES) return refuse(`the note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  const lines: SignatureLine[] = [];
  for (const [index, raw] of rawLines.entries()) {
    const line = parseSignatureLine(raw);
    if (typeof line === "string") return refuse(`signature line ${index + 1} ${line}`);
    lines.push(line);
  }
  return { ok: true, text, lines };
}

/** Returns the parsed line, or what is wrong with it. */
function parseSignatureLine(raw: string): SignatureLine | string {
  if (!raw.startsWith(SIGNATURE_PREFIX)) return 'does not start with "— " (em dash, space)';
  const rest = raw.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  if (space < 0) return "has no space between the key name and the signature";
  const name = rest.slice(0, space);
  if (!isValidKeyName(name)) return `has an invalid key name "${name}"`;
  const bytes = decodeStandardBase64(rest.slice(space + 1));
  if (bytes === undefined) return "does not hold a canonical standard base64 signature";
  if (bytes.length < 5) return "is too short to hold a key id and a signature";
  return { name, keyId: bytes.subarray(0, 4).toString("hex"), signature: bytes.subarray(4) };
}

/** The spec's character rules: valid UTF-8 and no ASCII control characters (DEL included) other than newline. */
function characterProblem(text: string): string | undefined {
  if (!isWellFormed(text)) return "holds a lone surrogate, which UTF-8 cannot encode";
  const control = /[\u0000-\u0009\u000b-\u001f\u007f]/.exec(text);
  if (control === null) return undefined;
  const code = control[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase();
  return `holds the control character U+${code}`;
}

function noKnownKeyReason(signatures: readonly NoteSignature[], verifiers: readonly NoteVerifier[]): string {
  const described = signatures.map(({ name, keyId }) => {
    const sameName = verifiers.filter((v) => v.name === name).map((v) => v.keyId);
    return sameName.length === 0
      ? `${name}+${keyId} (no known key has that name)`
      : `${name}+${keyId} (the known ${name} key id is ${sameName.join(" or ")})`;
  });
  return `no signature is by a known key: ${described.join("; ")}`;
}

function verifySignature(verifier: NoteVerifier, message: Buffer, signature: Buffer): boolean {
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  try {
    return verify(null, message, publicKeyObject(verifier.publicKey), signature);
  } catch {
    return false;
  }
}

function splitKeyFields(
  text: string,
  what: string,
  shape: string,
): KeyParseResult<{ name: string; keyId: string; material: Buffer }> {
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
  if (typed[0] !== ED25519_SIGNATURE_TYPE) {
    const type = `0x${typed[0]!.toString(16).padStart(2, "0")}`;
    return refuse(`the ${what} has signature type ${type}; only Ed25519 (0x01) is supported`);
  }
  return { ok: true, key: { name, keyId, material: typed.subarray(1) } };
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function makeVerifier(name: string, publicKey: Buffer): NoteVerifier {
  return { name, keyId: keyIdFor(name, publicKey), publicKey: Buffer.from(publicKey) };
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_KEY_PREFIX, raw]), format: "der", type: "spki" });
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDFFF]/u.test(text);
}
