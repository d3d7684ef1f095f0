import { type Bytes, sha256Hex } from "./digest.js";
import { TRACE_FORMAT } from "./trace-header.js";

/**
 * The hashing of trace format v2 (docs/proofs.md, "Chain, Merkle root, checkpoint"), over stored bytes:
 *   h₀   = SHA-256("aos-trace-v2\n" ‖ header bytes)
 *   leaf = SHA-256(0x00 ‖ record bytes)                    (RFC 6962 §2.1 leaf hash; a step header or the run-end)
 *   cᵢ   = SHA-256(cᵢ₋₁ ‖ leafᵢ)  over raw digests, c₋₁ = h₀; the last one is the chain head.
 * Digests travel as lowercase hex, the form they are stored and compared in.
 */
const GENESIS_PREFIX = `${TRACE_FORMAT}\n`;
const GENESIS_PREFIX_BYTES = Buffer.from(GENESIS_PREFIX, "utf8");
const LEAF_PREFIX_BYTES = Buffer.from([0x00]);

export function genesisHash(headerBytes: Bytes): string {
  return typeof headerBytes === "string"
    ? sha256Hex(GENESIS_PREFIX + headerBytes)
    : sha256Hex(Buffer.concat([GENESIS_PREFIX_BYTES, headerBytes]));
}

/** A string's first code unit U+0000 encodes as the single byte 0x00, so both forms hash 0x00 ‖ bytes. */
export function leafHashOf(bytes: Bytes): string {
  return typeof bytes === "string" ? sha256Hex(`\u0000${bytes}`) : sha256Hex(Buffer.concat([LEAF_PREFIX_BYTES, bytes]));
}

export function chainNext(previousHex: string, leafHex: string): string {
  return sha256Hex(Buffer.from(previousHex + leafHex, "hex"));
}

/**
 * chainNext for a verifier walking a whole trace: the two digests are written into one reused buffer instead of a
 * new one per step. Both arguments are computed hex digests, never stored text (Buffer.write stops at bad hex).
 */
export function chainHasher(): (previousHex: string, leafHex: string) => string {
  const pair = Buffer.alloc(64);
  return (previousHex, leafHex) => {
    pair.write(previousHex, 0, 32, "hex");
    pair.write(leafHex, 32, 32, "hex");
    return sha256Hex(pair);
  };
}
