import { AppError } from "../errors.js";
import { emptyTreeRoot, leafHashOf } from "./merkle.js";
import { consistencyRanges, HASH_SIZE, inclusionRanges, MerkleLevels, type NodeKey, nodeKeyText, nodesFor, rangeHashes } from "./merkle-nodes.js";

/**
 * A transparency log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): static resources from which anyone computes
 * the tree's root, inclusion and consistency proofs, with no database and no proof API.
 *
 *   tile/<L>/<N>[.p/<W>]        hashes of tree level 8·L, indices N·256 … N·256 + W − 1, 32 bytes each, concatenated
 *   tile/entries/<N>[.p/<W>]    entries N·256 … N·256 + W − 1, each a big-endian uint16 length then its bytes
 *
 * <L> is 0 to 63 without leading zeros. <N> is written in 3-digit groups, every group but the last prefixed `x`
 * (1234067 is `x001/x234/067`). A full tile is 256 wide and has no suffix; the rightmost tile of a level in a tree of
 * size s is partial, `.p/<W>` with W = ⌊s / 256^L⌋ mod 256 (1 to 255, no leading zeros), and an empty one does not
 * exist. Each hash of a level-L tile is MTH of 256^L consecutive leaves; a tile is the bottom row of a subtree eight
 * levels high, whose inner nodes a reader hashes for itself.
 *
 * Parsing is strict: each tile has exactly one path (no `x000` leading group, no padding, no other spelling).
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 2 ** TILE_HEIGHT;
export const MAX_TILE_LEVEL = 63;
/**
 * Groups of <N> a path may have: 5 cover N < 10^15, and every tile of a tree of up to 2^53 entries (a level-0 tile
 * index is below 2^45). The API routes one path shape per group count, so this bounds them too.
 */
export const MAX_INDEX_GROUPS = 5;
/** The most bytes an entry of a bundle can have: its length is a uint16. */
export const MAX_ENTRY_BYTES = 0xffff;

/** A tile: `level` is the tile level (tree level 8·level), or "entries" for an entry bundle; `width` is 1 to 256. */
export interface Tile {
  level: number | "entries";
  index: number;
  width: number;
}

export type TileParse = { ok: true; tile: Tile } | { ok: false; reason: string };

const LEVEL = /^(0|[1-9][0-9]?)$/;
const GROUP = /^[0-9]{3}$/;
const X_GROUP = /^x[0-9]{3}$/;
const WIDTH = /^[1-9][0-9]{0,2}$/;

export function isFullTile(tile: Tile): boolean {
  return tile.width === TILE_WIDTH;
}

/** <N> as path elements: 1234067 → x001/x234/067. */
export function tileIndexPath(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 1000 ** MAX_INDEX_GROUPS) throw new RangeError(`${index} is not a tile index AOS serves`);
  const groups: string[] = [];
  let rest = index;
  do {
    groups.unshift(String(rest % 1000).padStart(3, "0"));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((group, at) => (at < groups.length - 1 ? `x${group}` : group)).join("/");
}

export function tilePath(tile: Tile): string {
  const { level, index, width } = tile;
  if (level !== "entries" && (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL)) throw new RangeError(`${level} is not a tile level`);
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new RangeError(`${width} is not a tile width`);
  return `tile/${level}/${tileIndexPath(index)}${width === TILE_WIDTH ? "" : `.p/${width}`}`;
}

/** A tile path relative to the log's prefix (`tile/0/x001/067.p/5`), read in its one accepted spelling. */
export function parseTilePath(path: string): TileParse {
  const parts = path.split("/");
  if (parts[0] !== "tile" || parts.length < 3) return refuse(`"${path}" is not tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]`);
  const levelText = parts[1] as string;
  let level: Tile["level"];
  if (levelText === "entries") level = "entries";
  else if (LEVEL.test(levelText) && Number(levelText) <= MAX_TILE_LEVEL) level = Number(levelText);
  else return refuse(`the level "${levelText}" is not "entries" or 0 to ${MAX_TILE_LEVEL} without leading zeros`);
  let groups = parts.slice(2);
  let width = TILE_WIDTH;
  const last = groups.at(-1) as string;
  if (groups.length >= 2 && (groups.at(-2) as string).endsWith(".p")) {
    if (!WIDTH.test(last) || Number(last) >= TILE_WIDTH) return refuse(`the partial width "${last}" is not 1 to ${TILE_WIDTH - 1} without leading zeros`);
    width = Number(last);
    groups = [...groups.slice(0, -2), (groups.at(-2) as string).slice(0, -2)];
  }
  const index = parseIndexGroups(groups);
  if (typeof index === "string") return refuse(index);
  return { ok: true, tile: { level, index, width } };
}

function parseIndexGroups(groups: readonly string[]): number | string {
  if (groups.length > MAX_INDEX_GROUPS) return `the index has ${groups.length} groups; at most ${MAX_INDEX_GROUPS} are served`;
  const lastGroup = groups.at(-1) as string;
  const leading = groups.slice(0, -1);
  if (!GROUP.test(lastGroup)) return `the index's last group "${lastGroup}" is not 3 digits`;
  const bad = leading.find((group) => !X_GROUP.test(group));
  if (bad !== undefined) return `the index's group "${bad}" is not x and 3 digits`;
  if (leading[0] === "x000") return "the index starts with x000: leading zero groups are not written";
  return Number(leading.map((group) => group.slice(1)).join("") + lastGroup);
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** How many hashes of tile level `level` (tree level 8·level) a tree of `size` leaves has: ⌊size / 256^level⌋. */
export function hashesAtLevel(size: number, level: number): number {
  // size ≤ 2^53 and the divisor a power of two: the quotient is exact before flooring.
  return Math.floor(size / TILE_WIDTH ** level);
}

/** Whether a tree of `size` leaves has this tile: all its hashes (or entries) are complete in it. */
export function treeHasTile(size: number, tile: Tile): boolean {
  const level = tile.level === "entries" ? 0 : tile.level;
  return tile.index * TILE_WIDTH + tile.width <= hashesAtLevel(size, level);
}

/** The tile of `level` at `index` as a tree of `size` leaves serves it: full, or its partial width there. */
export function servedTile(size: number, level: Tile["level"], index: number): Tile {
  const count = hashesAtLevel(size, level === "entries" ? 0 : level);
  return { level, index, width: Math.min(TILE_WIDTH, count - index * TILE_WIDTH) };
}

/**
 * Every tile and entry bundle of a tree of `size` leaves, level by level (entry bundles first): the full tiles,
 * then the partial one if the level's width is not a multiple of 256. A tree of 70,000 has 273 full level-0 tiles
 * and one 112 wide, one full level-1 tile and one 17 wide, and one level-2 tile 1 wide (and the bundles of level 0).
 */
export function tilesOfTree(size: number): Tile[] {
  const tiles: Tile[] = [];
  for (const level of ["entries", 0] as const) tiles.push(...tilesOfLevel(size, level));
  for (let level = 1; hashesAtLevel(size, level) > 0; level++) tiles.push(...tilesOfLevel(size, level));
  return tiles;
}

function tilesOfLevel(size: number, level: Tile["level"]): Tile[] {
  const count = hashesAtLevel(size, level === "entries" ? 0 : level);
  return Array.from({ length: Math.ceil(count / TILE_WIDTH) }, (_, index) => servedTile(size, level, index));
}

/** An entry bundle: each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const [at, entry] of entries.entries()) {
    if (entry.length > MAX_ENTRY_BYTES) throw new RangeError(`entry ${at} of the bundle is ${entry.length} bytes; a bundle holds at most ${MAX_ENTRY_BYTES}`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(entry.length);
    parts.push(length, Buffer.from(entry));
  }
  return Buffer.concat(parts);
}

export type EntryBundleParse = { ok: true; entries: Buffer[] } | { ok: false; reason: string };

/** Reads a bundle to its last byte: a length running past the end, or bytes after the last entry, refuse it. */
export function parseEntryBundle(bytes: Uint8Array): EntryBundleParse {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 2 > data.length) return refuse(`the bundle ends inside the length of entry ${entries.length}`);
    const length = data.readUInt16BE(at);
    if (at + 2 + length > data.length) return refuse(`entry ${entries.length} claims ${length} bytes; only ${data.length - at - 2} remain`);
    entries.push(Buffer.from(data.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  return { ok: true, entries };
}

/** A hash tile's bytes as its hashes; a tile of `width` is exactly width × 32 bytes. */
export function tileHashes(bytes: Uint8Array, width: number, path: string): Buffer[] {
  if (bytes.length !== width * HASH_SIZE) {
    throw new AppError("TILE_INVALID", `${path} is ${bytes.length} bytes; a tile ${width} hashes wide is ${width * HASH_SIZE}`, { details: { tile: path } });
  }
  return Array.from({ length: width }, (_, at) => Buffer.from(bytes.subarray(at * HASH_SIZE, (at + 1) * HASH_SIZE)));
}


/** Fetches one tile's bytes by its path (`tile/0/x001/067`); rejects (TILE_NOT_FOUND) when there is no such tile. */
export type TileReader = (path: string) => Promise<Uint8Array>;

/**
 * RFC 9162 proofs computed from a log's tiles. Its tiles are those of one tree, `treeSize` leaves (a signed
 * checkpoint's size: which tiles are partial, and how wide, follows from it), and it answers for that tree or any
 * smaller one. Each node a proof names (merkle-nodes.ts) is read from one tile, hashing at most 2^7 of its hashes, so
 * a proof reads O(log n) tiles, each once, fetched in parallel. Nothing read is trusted: a proof or root from tiles a
 * log tampered with fails against the signed root it is checked with.
 */
export interface TileProofSource {
  readonly treeSize: number;
  /** MTH(D[size]), `size` ≤ treeSize. */
  root(size?: number): Promise<Buffer>;
  /** PATH(index, D[size]), from the leaf up. */
  inclusionProof(index: number, size?: number): Promise<Buffer[]>;
  /** PROOF(oldSize, D[size]). */
  consistencyProof(oldSize: number, size?: number): Promise<Buffer[]>;
  /** The hash of complete node (level, index) of the tree. */
  node(key: NodeKey): Promise<Buffer>;
  /** Entry `index`'s bytes, from its entry bundle. */
  entry(index: number): Promise<Buffer>;
}

export function tileProofSource(read: TileReader, treeSize: number): TileProofSource {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new RangeError(`${treeSize} is not a tree size`);
  return new TileProofs(read, treeSize);
}

class TileProofs implements TileProofSource {
  private readonly tiles = new Map<string, Promise<Buffer[]>>();

  constructor(
    private readonly read: TileReader,
    readonly treeSize: number,
  ) {}

  async root(size = this.treeSize): Promise<Buffer> {
    this.checkSize(size);
    return size === 0 ? emptyTreeRoot() : ((await this.rangeHashes([{ start: 0, end: size }]))[0] as Buffer);
  }

  async inclusionProof(index: number, size = this.treeSize): Promise<Buffer[]> {
    this.checkSize(size);
    return this.rangeHashes(inclusionRanges(index, size));
  }

  async consistencyProof(oldSize: number, size = this.treeSize): Promise<Buffer[]> {
    this.checkSize(size);
    return this.rangeHashes(consistencyRanges(oldSize, size));
  }

  async node(key: NodeKey): Promise<Buffer> {
    if (!Number.isSafeInteger(key.index) || key.index < 0 || (key.index + 1) * 2 ** key.level > this.treeSize) {
      throw new RangeError(`a tree of ${this.treeSize} leaves has no complete node ${nodeKeyText(key)}`);
    }
    const tileLevel = Math.floor(key.level / TILE_HEIGHT);
    const count = 2 ** (key.level % TILE_HEIGHT);
    const first = key.index * count;
    const tileIndex = Math.floor(first / TILE_WIDTH);
    const hashes = await this.tile(tileLevel, tileIndex);
    const from = first - tileIndex * TILE_WIDTH;
    return foldHashes(hashes.slice(from, from + count));
  }

  async entry(index: number): Promise<Buffer> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.treeSize) throw new RangeError(`entry ${index} is outside a tree of ${this.treeSize} leaves`);
    const tile = servedTile(this.treeSize, "entries", Math.floor(index / TILE_WIDTH));
    const path = tilePath(tile);
    const entries = bundleEntries(await this.read(path), tile.width, path);
    return entries[index % TILE_WIDTH] as Buffer;
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.treeSize) throw new RangeError(`the tiles are of a tree of ${this.treeSize} leaves; a tree of ${size} is not in them`);
  }

  private async rangeHashes(ranges: readonly { start: number; end: number }[]): Promise<Buffer[]> {
    const nodes = nodesFor(ranges);
    const hashes = await Promise.all(nodes.map((node) => this.node(node)));
    const byKey = new Map(nodes.map((node, at) => [nodeKeyText(node), hashes[at] as Buffer]));
    return rangeHashes(ranges, (key) => byKey.get(nodeKeyText(key)));
  }

  /** A tile's hashes, read once however many nodes it serves. */
  private tile(level: number, index: number): Promise<Buffer[]> {
    const tile = servedTile(this.treeSize, level, index);
    const path = tilePath(tile);
    let hashes = this.tiles.get(path);
    if (hashes === undefined) {
      hashes = this.read(path).then((bytes) => tileHashes(bytes, tile.width, path));
      this.tiles.set(path, hashes);
    }
    return hashes;
  }
}

/** MTH of hashes taken as leaves: for 2^k of them, the root of the complete subtree they are the bottom row of. */
function foldHashes(hashes: readonly Buffer[]): Buffer {
  return new MerkleLevels(hashes).root();
}

/** An entry bundle's entries, which must be exactly `width`. */
export function bundleEntries(bytes: Uint8Array, width: number, path: string): Buffer[] {
  const parsed = parseEntryBundle(bytes);
  if (!parsed.ok) throw new AppError("TILE_INVALID", `${path} is not an entry bundle: ${parsed.reason}`, { details: { tile: path } });
  if (parsed.entries.length !== width) {
    throw new AppError("TILE_INVALID", `${path} holds ${parsed.entries.length} entries; a bundle ${width} wide holds ${width}`, { details: { tile: path } });
  }
  return parsed.entries;
}

export type TileAudit = { ok: true; treeSize: number; tiles: number; entryBundles: number } | { ok: false; tile: string | null; reason: string };

/** How many tiles of one level an audit reads at a time. */
const AUDIT_BATCH = 16;

/**
 * Checks every tile and entry bundle of a checkpoint's tree against its root, so that no byte of them goes
 * unchecked: the root folded from the right edge's partial tiles equals the checkpoint's; every full tile hashes to
 * its hash in the tile above (which is checked the same way, up to the root); every entry bundle's entries hash
 * (SHA-256(0x00 ‖ entry)) to its level-0 tile. That reads all of them, O(n); a single proof needs O(log n) tiles
 * and `tileProofSource`. The checkpoint must already be opened with trusted keys (openTenantCheckpoint): this
 * binds the tiles to its root, not the root to anybody. Partial tiles of older, smaller trees are not checked.
 */
export async function verifyTilesAgainstCheckpoint(read: TileReader, checkpoint: { treeSize: number; root: Buffer }): Promise<TileAudit> {
  const size = checkpoint.treeSize;
  const source = tileProofSource(read, size);
  try {
    const root = await source.root();
    if (!root.equals(checkpoint.root)) {
      const edge = rightEdgeTiles(size).map(tilePath).join(", ");
      return { ok: false, tile: null, reason: `the tiles' root is ${root.toString("hex")}, the checkpoint's ${checkpoint.root.toString("hex")}: one of the tree's right-edge tiles (${edge}) differs` };
    }
    let tiles = 0;
    for (let level = 0; hashesAtLevel(size, level) > 0; level++) {
      const count = Math.ceil(hashesAtLevel(size, level) / TILE_WIDTH);
      for (let first = 0; first < count; first += AUDIT_BATCH) {
        const indices = Array.from({ length: Math.min(AUDIT_BATCH, count - first) }, (_, at) => first + at);
        await Promise.all(indices.map((index) => auditTile(read, source, level, index)));
      }
      tiles += count;
    }
    return { ok: true, treeSize: size, tiles, entryBundles: Math.ceil(size / TILE_WIDTH) };
  } catch (error) {
    const tile = error instanceof AppError && typeof error.details?.tile === "string" ? error.details.tile : null;
    return { ok: false, tile, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The partial tiles a tree's root is folded from: the last of each level, when its width is not 256. */
function rightEdgeTiles(size: number): Tile[] {
  const edge: Tile[] = [];
  for (let level = 0; hashesAtLevel(size, level) > 0; level++) {
    const tile = servedTile(size, level, Math.floor(hashesAtLevel(size, level) / TILE_WIDTH));
    if (tile.width > 0) edge.push(tile);
  }
  return edge;
}

/** One tile of the audit: a full one against its hash above; at level 0 its entry bundle against it too. */
async function auditTile(read: TileReader, source: TileProofSource, level: number, index: number): Promise<void> {
  const tile = servedTile(source.treeSize, level, index);
  const path = tilePath(tile);
  const hashes = tileHashes(await read(path), tile.width, path);
  if (isFullTile(tile)) {
    const above = await source.node({ level: (level + 1) * TILE_HEIGHT, index });
    if (!foldHashes(hashes).equals(above)) {
      const parent = tilePath(servedTile(source.treeSize, level + 1, Math.floor(index / TILE_WIDTH)));
      throw new AppError("TILE_INVALID", `${path} does not hash to hash ${index % TILE_WIDTH} of ${parent}: one of the two differs`, { details: { tile: path } });
    }
  }
  if (level > 0) return;
  const bundle = tilePath({ ...tile, level: "entries" });
  const entries = bundleEntries(await read(bundle), tile.width, bundle);
  const wrong = entries.findIndex((entry, at) => !leafHashOf(entry).equals(hashes[at] as Buffer));
  if (wrong !== -1) throw new AppError("TILE_INVALID", `entry ${index * TILE_WIDTH + wrong} of ${bundle} does not hash to its leaf in ${path}`, { details: { tile: bundle } });
}
