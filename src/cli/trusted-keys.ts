import { existsSync, readFileSync } from "node:fs";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";
import { loadVerifiers } from "../trace/key-store.js";
import { type NoteVerifier, parseVerifierKey } from "../trace/signed-note.js";

export interface TrustedKeys {
  verifiers: NoteVerifier[];
  /** Where they came from: keys the user pinned, this machine's key store, or (weakest) the file being checked. */
  source: "pinned" | "key store" | "bundle";
}

function parseKeys(texts: readonly string[], source: string): NoteVerifier[] {
  return texts.map((text) => {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new AppError("USAGE", `${source}: "${text}" is not a C2SP verification key (${parsed.reason})`);
    return parsed.key;
  });
}

/** `--key` takes a vkey (`name+keyid+base64`) or a file of them, one per line. */
export function pinnedKeys(values: readonly string[]): NoteVerifier[] {
  return values.flatMap((value) => {
    if (existsSync(value)) {
      const lines = readFileSync(value, "utf8").split("\n").map((line) => line.trim()).filter((line) => line !== "");
      return parseKeys(lines, value);
    }
    return parseKeys([value], "--key");
  });
}

/**
 * The keys to verify with, without touching any database: the pinned ones, else this machine's key store and
 * AOS_VERIFIER_KEYS, else the keys the file itself names (which proves only that the file is self-consistent).
 */
export function trustedKeys(config: Config, pinned: readonly string[], fromFile: readonly string[]): TrustedKeys {
  if (pinned.length > 0) return { verifiers: pinnedKeys(pinned), source: "pinned" };
  const local = loadVerifiers(config);
  if (local.length > 0) return { verifiers: local, source: "key store" };
  return { verifiers: parseKeys(fromFile, "the bundle's verification_keys"), source: "bundle" };
}

export const UNPINNED_WARNING =
  "warning: no trusted key given: the signature was checked with the key named in the file itself; pass --key <vkey> (from `aos keys` where the run was signed) to pin the key you trust";
