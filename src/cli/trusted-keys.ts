import { existsSync } from "node:fs";
import type { Config } from "../config.js";
import { readUtf8File } from "./read-json-file.js";
import { AppError } from "../errors.js";
import { loadVerifiers } from "../trace/key-store.js";
import { type NoteVerifier, parseVerifierKey } from "../trace/signed-note.js";

export interface TrustedKeys {
  verifiers: NoteVerifier[];
  /** Where they came from: keys the user pinned, or this machine's key store and AOS_VERIFIER_KEYS. */
  source: "pinned" | "key store";
}

function parseKeys(texts: readonly string[], source: string): NoteVerifier[] {
  return texts.map((text) => {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new AppError("USAGE", `${source}: "${text}" is not a C2SP verification key (${parsed.reason})`);
    return parsed.key;
  });
}

/**
 * `--key` takes a vkey (`name+keyid+base64`) or a file of them, one per line. A value that is a valid vkey is that
 * key, always: a file that happens to be named like it (base64 holds "/") is never read instead, so nobody can
 * slip in another key by shipping such a file beside a bundle.
 */
export function pinnedKeys(values: readonly string[]): NoteVerifier[] {
  return values.flatMap((value) => {
    const asKey = parseVerifierKey(value);
    if (asKey.ok) return [asKey.key];
    if (!existsSync(value)) throw new AppError("USAGE", `--key: "${value}" is neither a C2SP verification key (${asKey.reason}) nor a file`);
    const text = readUtf8File(value, "--key file");
    const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
    if (lines.length === 0) throw new AppError("USAGE", `--key ${value}: the file holds no verification key`);
    return parseKeys(lines, value);
  });
}

/**
 * The keys to verify with, without touching any database: the pinned ones, else this machine's key store and
 * AOS_VERIFIER_KEYS. With neither, verification is refused (docs/proofs.md, "Trusted keys"): a key named inside
 * the file being checked is never trusted, since anyone can sign a file with a key of their own.
 */
export function trustedKeys(config: Config, pinned: readonly string[]): TrustedKeys {
  if (pinned.length > 0) return { verifiers: pinnedKeys(pinned), source: "pinned" };
  const local = loadVerifiers(config);
  if (local.length > 0) return { verifiers: local, source: "key store" };
  throw new AppError(
    "USAGE",
    "no trusted key: this machine has no key store and AOS_VERIFIER_KEYS is unset; pass --key <vkey or file> with the key you trust (`aos keys` prints it where the run was signed)",
  );
}
