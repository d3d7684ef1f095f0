import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";
import { type AttestationKey, type AttestationKeys, attestationKeys, deriveAttestationKey } from "./attestation.js";
import {
  encodeVerifierKey,
  generateSigningKey,
  type NoteSigner,
  type NoteVerifier,
  parseSignerKey,
  parseVerifierKey,
  signerKeySeed,
} from "./signed-note.js";

/**
 * The checkpoint signing key, the verification keys AOS trusts, and the attestation keys derived from signing keys
 * (docs/proofs.md, "Write-time attestations"). The private key lives outside the database
 * (`$AOS_HOME/keys/signing.key`, mode 0600, created on first use; or AOS_SIGNING_KEY), so whoever can write the
 * database can neither sign a re-hashed trace nor attest a row. `keys/verifiers` lists every verification key this
 * home has signed with, so proofs signed before a rotation still verify; `keys/attestation-retired` keeps the
 * attestation keys of rotated-out signing keys (secrets, mode 0600), so runs in flight across a rotation resume.
 */
export interface KeyRing {
  signer: NoteSigner;
  verifiers: NoteVerifier[];
  attestation: AttestationKeys;
}

function keysDir(config: Config): string {
  return join(config.home, "keys");
}

function signerFrom(text: string, source: string): NoteSigner {
  const parsed = parseSignerKey(text.trim());
  if (!parsed.ok) throw new AppError("USAGE", `${source} is not a C2SP private key (${parsed.reason})`);
  return parsed.key;
}

function attestationKeyFrom(text: string, source: string): AttestationKey {
  const signer = signerFrom(text, source);
  return deriveAttestationKey(signerKeySeed(text.trim()), signer.keyId);
}

function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

function verifierOrThrow(vkey: string, source: string): NoteVerifier {
  const parsed = parseVerifierKey(vkey);
  if (!parsed.ok) throw new AppError("USAGE", `${source}: "${vkey}" is not a C2SP verification key (${parsed.reason})`);
  return parsed.key;
}

function unique(verifiers: NoteVerifier[]): NoteVerifier[] {
  const seen = new Map<string, NoteVerifier>();
  for (const verifier of verifiers) seen.set(`${verifier.name}+${verifier.keyId}`, verifier);
  return [...seen.values()];
}

/** Trusted verification keys, without creating anything: for verifying (also offline, with no AOS_HOME). */
export function loadVerifiers(config: Config): NoteVerifier[] {
  const fromEnv = config.verifierKeys.map((vkey) => verifierOrThrow(vkey, "AOS_VERIFIER_KEYS"));
  const fromSigner = config.signingKey === undefined ? [] : [signerFrom(config.signingKey, "AOS_SIGNING_KEY")];
  const path = join(keysDir(config), "verifiers");
  return unique([...fromSigner, ...readLines(path).map((vkey) => verifierOrThrow(vkey, path)), ...fromEnv]);
}

function writeSecret(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600, flag: "wx" });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

function appendVerifier(config: Config, vkey: string): void {
  const path = join(keysDir(config), "verifiers");
  const existing = existsSync(path) ? readFileSync(path, "utf8") : "";
  if (!existing.split("\n").includes(vkey)) writeFileSync(path, `${existing}${vkey}\n`, { mode: 0o644 });
}

const RETIRED_ATTESTATION = /^([0-9a-f]{8}) ([0-9a-f]{64})$/;

/** Attestation keys of signing keys rotated out: from the home's file and AOS_RETIRED_SIGNING_KEYS. */
function retiredAttestationKeys(config: Config): AttestationKey[] {
  const path = join(keysDir(config), "attestation-retired");
  const fromFile = readLines(path).map((line) => {
    const match = RETIRED_ATTESTATION.exec(line);
    if (match === null) throw new AppError("USAGE", `${path} holds a line that is not "<key id> <64 hex digits>"`);
    return { keyId: match[1] as string, secret: Buffer.from(match[2] as string, "hex") };
  });
  return [...fromFile, ...config.retiredSigningKeys.map((text) => attestationKeyFrom(text, "AOS_RETIRED_SIGNING_KEYS"))];
}

function signingKeyText(config: Config): { text: string; source: string } | undefined {
  if (config.signingKey !== undefined) return { text: config.signingKey, source: "AOS_SIGNING_KEY" };
  const path = join(keysDir(config), "signing.key");
  return existsSync(path) ? { text: readFileSync(path, "utf8"), source: path } : undefined;
}

/** The signing key and trusted keys; creates the home's signing key on first use unless AOS_SIGNING_KEY is set. */
export function loadKeyRing(config: Config): KeyRing {
  if (signingKeyText(config) === undefined) createSigningKey(config, join(keysDir(config), "signing.key"));
  const { text, source } = signingKeyText(config) as { text: string; source: string };
  const signer = signerFrom(text, source);
  const attestation = attestationKeys(attestationKeyFrom(text, source), retiredAttestationKeys(config));
  return { signer, verifiers: unique([signer, ...loadVerifiers(config)]), attestation };
}

/** The attestation keys, when this host holds a signing key (`aos proof` checks attestations with them); creates nothing. */
export function loadAttestationKeys(config: Config): AttestationKeys | undefined {
  const key = signingKeyText(config);
  return key === undefined ? undefined : attestationKeys(attestationKeyFrom(key.text, key.source), retiredAttestationKeys(config));
}

function createSigningKey(config: Config, path: string): void {
  mkdirSync(keysDir(config), { recursive: true, mode: 0o700 });
  const pair = generateSigningKey(config.signingKeyName);
  try {
    writeFileSync(path, `${pair.signerKey}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw error;
  }
  appendVerifier(config, pair.verifierKey);
}

/**
 * Replaces the home's signing key with a new one. The old verification key stays in `keys/verifiers`, so every
 * checkpoint it signed still verifies, and its attestation key in `keys/attestation-retired`, so runs it attested
 * can still be resumed; the old private key is discarded. Returns the new verification key.
 */
export function rotateSigningKey(config: Config): string {
  if (config.signingKey !== undefined) {
    throw new AppError("USAGE", "the signing key comes from AOS_SIGNING_KEY: rotate it where that variable is set (and list the old one in AOS_RETIRED_SIGNING_KEYS)");
  }
  const path = join(keysDir(config), "signing.key");
  mkdirSync(keysDir(config), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const text = readFileSync(path, "utf8");
    appendVerifier(config, encodeVerifierKey(signerFrom(text, path)));
    retireAttestationKey(config, attestationKeyFrom(text, path));
  }
  const pair = generateSigningKey(config.signingKeyName);
  appendVerifier(config, pair.verifierKey);
  writeSecret(path, `${pair.signerKey}\n`);
  return pair.verifierKey;
}

function retireAttestationKey(config: Config, key: AttestationKey): void {
  const path = join(keysDir(config), "attestation-retired");
  const line = `${key.keyId} ${key.secret.toString("hex")}`;
  const existing = readLines(path);
  if (!existing.includes(line)) writeSecret(path, [...existing, line, ""].join("\n"));
}
