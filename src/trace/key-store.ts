import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";
import {
  encodeVerifierKey,
  generateSigningKey,
  type NoteSigner,
  type NoteVerifier,
  parseSignerKey,
  parseVerifierKey,
} from "./signed-note.js";

/**
 * The checkpoint signing key and the verification keys AOS trusts. The private key lives outside the database
 * (`$AOS_HOME/keys/signing.key`, mode 0600, created on first use; or AOS_SIGNING_KEY), so whoever can write the
 * database still cannot sign a re-hashed trace. `keys/verifiers` lists every verification key this home has
 * signed with, so proofs signed before a rotation still verify.
 */
export interface KeyRing {
  signer: NoteSigner;
  verifiers: NoteVerifier[];
}

function keysDir(config: Config): string {
  return join(config.home, "keys");
}

function signerFrom(text: string, source: string): NoteSigner {
  const parsed = parseSignerKey(text.trim());
  if (!parsed.ok) throw new AppError("USAGE", `${source} is not a C2SP private key (${parsed.reason})`);
  return parsed.key;
}

function readVerifierFile(path: string): NoteVerifier[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => verifierOrThrow(line, path));
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
  return unique([...fromSigner, ...readVerifierFile(join(keysDir(config), "verifiers")), ...fromEnv]);
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

/** The signing key and trusted keys; creates the home's signing key on first use unless AOS_SIGNING_KEY is set. */
export function loadKeyRing(config: Config): KeyRing {
  if (config.signingKey !== undefined) {
    return { signer: signerFrom(config.signingKey, "AOS_SIGNING_KEY"), verifiers: loadVerifiers(config) };
  }
  const path = join(keysDir(config), "signing.key");
  if (!existsSync(path)) createSigningKey(config, path);
  const signer = signerFrom(readFileSync(path, "utf8"), path);
  return { signer, verifiers: unique([signer, ...loadVerifiers(config)]) };
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
 * checkpoint it signed still verifies; the old private key is discarded. Returns the new verification key.
 */
export function rotateSigningKey(config: Config): string {
  if (config.signingKey !== undefined) {
    throw new AppError("USAGE", "the signing key comes from AOS_SIGNING_KEY: rotate it where that variable is set");
  }
  const path = join(keysDir(config), "signing.key");
  const current = existsSync(path) ? signerFrom(readFileSync(path, "utf8"), path) : undefined;
  if (current !== undefined) appendVerifier(config, encodeVerifierKey(current));
  mkdirSync(keysDir(config), { recursive: true, mode: 0o700 });
  const pair = generateSigningKey(config.signingKeyName);
  appendVerifier(config, pair.verifierKey);
  writeSecret(path, `${pair.signerKey}\n`);
  return pair.verifierKey;
}
