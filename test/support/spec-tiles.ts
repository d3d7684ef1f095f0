import { createHash } from "node:crypto";

/**
 * A transparency log's tlog-tiles resources built from its entries with nothing of src/ but SHA-256, following the
 * spec's words (https://c2sp.org/tlog-tiles): "the n-th tile at level l is the sequence of MTH(D[(n·256 + i)·256^l :
 * (n·256 + i + 1)·256^l]) for i in 0…255", RFC 6962's MTH over leaves SHA-256(0x00 ‖ entry), paths with <N> in
 * x-prefixed 3-digit groups and `.p/<W>` on partial tiles, bundles of uint16-length-prefixed entries. Tests hold
 * what AOS builds, serves and exports to these.
 */
export function specTiles(entries: readonly Buffer[]): Map<string, Buffer> {
  const leaves = entries.map((entry) => sha256(Buffer.from([0]), entry));
  const files = new Map<string, Buffer>();
  for (let level = 0; Math.floor(entries.length / 256 ** level) > 0; level++) {
    const span = 256 ** level;
    const count = Math.floor(entries.length / span);
    const hashes = Array.from({ length: count }, (_, i) => mth(leaves.slice(i * span, (i + 1) * span)));
    for (let n = 0; n * 256 < count; n++) {
      const width = Math.min(256, count - n * 256);
      files.set(specTilePath(level, n, width), Buffer.concat(hashes.slice(n * 256, n * 256 + width)));
      if (level > 0) continue;
      const bundle = entries.slice(n * 256, n * 256 + width).map((entry) => Buffer.concat([Buffer.from([entry.length >> 8, entry.length & 0xff]), entry]));
      files.set(specTilePath("entries", n, width), Buffer.concat(bundle));
    }
  }
  return files;
}

export function specTilePath(level: number | "entries", n: number, width: number): string {
  const digits = String(n).padStart(3 * Math.ceil(String(n).length / 3), "0");
  const groups = digits.match(/.{3}/g) as string[];
  const index = groups.map((group, at) => (at < groups.length - 1 ? `x${group}` : group)).join("/");
  return `tile/${level}/${index}${width === 256 ? "" : `.p/${width}`}`;
}

/** Paths in none of tlog-tiles' spellings (or past the 5 index groups AOS serves): each must be refused. */
export const MALFORMED_TILE_PATHS: readonly string[] = [
  "tile/0/1", "tile/0/01", "tile/0/0001", "tile/0/x000/001", "tile/0/x1/000", "tile/0/001/x002", "tile/0/X001/000",
  "tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000", "tile/+1/000", "tile/0/000.p/0", "tile/0/000.p/256",
  "tile/0/000.p/01", "tile/0/000.p/", "tile/0/000.p", "tile/0/000.p/1/2", "tile/0/000.q/1", "tile/0/000.p.p/1",
  "tile/entries/000.p/00", "tile/entry/000", "tile/0", "tile/0/", "tile//000", "/tile/0/000", "tile/0/000/",
  "tiles/0/000", "tile/0/x001/x002/x003/x004/x005/006", "tile/0/ 000", "tile/0/%30%30%30", "tile/0/x001/000.p/1.5",
  "tile/1e1/000", "tile/0/0x1", "tile/entries/x000/000.p/3", "tile/entries/000.p/1/000",
];

/** RFC 6962 §2.1's MTH, recursively over slices. */
function mth(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}
