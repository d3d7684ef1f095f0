import { hash } from "node:crypto";

/**
 * Stored bytes as they reach a verifier: a Buffer from the database (bytea), or a JavaScript string from a bundle,
 * whose UTF-8 encoding is the bytes. Hashing either gives the same digest for the same bytes.
 */
export type Bytes = string | Uint8Array;

/** SHA-256 as lowercase hex. `crypto.hash` is Node's one-shot path: no Hash object per call, and strings go in as UTF-8. */
export function sha256Hex(data: Bytes): string {
  return hash("sha256", data, "hex");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of stored bytes; undefined when they are not valid UTF-8 (canonical JSON always is). */
export function textOf(bytes: Bytes): string | undefined {
  if (typeof bytes === "string") return bytes;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The bytes of canonical JSON text, as they are stored in the database. */
export function bytesOf(text: string): Buffer {
  return Buffer.from(text, "utf8");
}
