import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MALFORMED_TILE_PATHS, specTilePath as specPath, specTiles } from "../../test/support/spec-tiles.js";
import { consistencyProof, inclusionProof, leafHashOf, merkleRoot, verifyConsistency, verifyInclusion } from "./merkle.js";
import {
  encodeEntryBundle,
  MAX_ENTRY_BYTES,
  parseEntryBundle,
  parseTilePath,
  type Tile,
  tilePath,
  tileProofSource,
  tilesOfTree,
  treeHasTile,
  verifyTilesAgainstCheckpoint,
} from "./tiles.js";

// Tiles built from the spec's words alone (test/support/spec-tiles.ts, sharing no code with tiles.ts); the proofs
// computed from them are held to merkle.ts's functions over all the leaves.

const entryOf = (i: number) => Buffer.from(`{"entry":${i}}`);
const entriesOf = (size: number) => Array.from({ length: size }, (_, i) => entryOf(i));

/** A reader over a map of files that records each path it is asked for. */
function readerOver(files: Map<string, Buffer>) {
  const reads: string[] = [];
  const read = async (path: string) => {
    reads.push(path);
    const bytes = files.get(path);
    if (bytes === undefined) throw new Error(`no ${path}`);
    return bytes;
  };
  return { read, reads };
}

describe("tile paths", () => {
  it("writes the index in x-prefixed 3-digit groups, with .p/<W> only for partial tiles", () => {
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 2, index: 0, width: 1 })).toBe("tile/2/000.p/1");
    expect(tilePath({ level: "entries", index: 1000, width: 255 })).toBe("tile/entries/x001/000.p/255");
    expect(tilePath({ level: 63, index: 999, width: 256 })).toBe("tile/63/999");
  });

  it("reads back every path it writes, and each tile as the spec spells it", () => {
    const tile = fc.record({
      level: fc.oneof(fc.constant("entries" as const), fc.integer({ min: 0, max: 63 })),
      index: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 10 ** 15 - 1 })),
      width: fc.integer({ min: 1, max: 256 }),
    });
    fc.assert(
      fc.property(tile, (t: Tile) => {
        expect(tilePath(t)).toBe(specPath(t.level, t.index, t.width));
        expect(parseTilePath(tilePath(t))).toEqual({ ok: true, tile: t });
      }),
    );
  });

  it("refuses every other spelling", () => {
    for (const path of MALFORMED_TILE_PATHS) expect([path, parseTilePath(path).ok]).toEqual([path, false]);
  });
});

describe("the tiles of a tree", () => {
  const shape = (size: number) =>
    tilesOfTree(size).reduce<Record<string, number[]>>((seen, tile) => {
      const key = `${tile.level}`;
      (seen[key] ??= []).push(tile.width);
      return seen;
    }, {});

  it("for 70,000 entries: 273 full level-0 tiles and one 112 wide, a full level-1 tile and one 17 wide, a level-2 tile 1 wide (the spec's example)", () => {
    const tiles = shape(70_000);
    expect(tiles["0"]).toEqual([...Array(273).fill(256), 112]);
    expect(tiles.entries).toEqual(tiles["0"]);
    expect(tiles["1"]).toEqual([256, 17]);
    expect(tiles["2"]).toEqual([1]);
    expect(Object.keys(tiles).sort()).toEqual(["0", "1", "2", "entries"]);
  });

  it("for 256 entries: a full level-0 tile and a level-1 tile 1 wide; none for an empty tree", () => {
    expect(shape(256)).toEqual({ entries: [256], 0: [256], 1: [1] });
    expect(tilesOfTree(0)).toEqual([]);
  });

  it("are exactly the paths a tree's resources have, and a tree has each of them", () => {
    for (const size of [1, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537]) {
      const tiles = tilesOfTree(size);
      expect(tiles.map(tilePath).sort()).toEqual([...specTiles(entriesOf(size)).keys()].sort());
      expect(tiles.every((tile) => treeHasTile(size, tile))).toBe(true);
    }
  });

  it("has no tile past its size: not the next hash, not the next full tile", () => {
    expect(treeHasTile(300, { level: 0, index: 1, width: 44 })).toBe(true);
    expect(treeHasTile(300, { level: 0, index: 1, width: 45 })).toBe(false);
    expect(treeHasTile(300, { level: 0, index: 1, width: 256 })).toBe(false);
    expect(treeHasTile(300, { level: 1, index: 0, width: 1 })).toBe(true);
    expect(treeHasTile(300, { level: 1, index: 0, width: 2 })).toBe(false);
    expect(treeHasTile(300, { level: 2, index: 0, width: 1 })).toBe(false);
    expect(treeHasTile(300, { level: "entries", index: 2, width: 1 })).toBe(false);
  });
});

describe("entry bundles", () => {
  it("are each entry's big-endian uint16 length and bytes, read back to the last byte", () => {
    const entries = [Buffer.alloc(0), Buffer.from("a"), Buffer.alloc(300, 7), Buffer.alloc(MAX_ENTRY_BYTES, 1)];
    const bundle = encodeEntryBundle(entries);
    expect(bundle.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 1, 0x61]));
    expect(bundle.subarray(5, 7)).toEqual(Buffer.from([0x01, 0x2c]));
    expect(parseEntryBundle(bundle)).toEqual({ ok: true, entries });
    expect(() => encodeEntryBundle([Buffer.alloc(MAX_ENTRY_BYTES + 1)])).toThrow(/at most 65535/);
  });

  it("refuses a bundle cut inside a length or an entry, or with bytes after its last entry", () => {
    const bundle = encodeEntryBundle([Buffer.from("abc"), Buffer.from("de")]);
    for (let cut = 1; cut < bundle.length; cut++) {
      if (cut === 5) continue; // exactly after the first entry: a bundle of one
      expect([cut, parseEntryBundle(bundle.subarray(0, cut)).ok]).toEqual([cut, false]);
    }
    expect(parseEntryBundle(Buffer.concat([bundle, Buffer.from([0])])).ok).toBe(false);
  });
});

describe("proofs from tiles", () => {
  const levelsOf = (size: number) => {
    let levels = 1;
    while (256 ** levels <= size) levels += 1;
    return levels;
  };

  for (const size of [1, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 70_000]) {
    it(`equal merkle.ts's over all the leaves, for a tree of ${size}, reading O(log n) tiles`, { timeout: 120_000 }, async () => {
      const leaves = Array.from({ length: size }, (_, i) => leafHashOf(entryOf(i)));
      const files = specTiles(entriesOf(size));
      const root = merkleRoot(leaves);
      const fresh = () => {
        const reader = readerOver(files);
        return { source: tileProofSource(reader.read, size), reads: reader.reads };
      };
      const rootRead = fresh();
      expect((await rootRead.source.root()).equals(root)).toBe(true);
      expect(rootRead.reads.length).toBeLessThanOrEqual(levelsOf(size));

      // merkle.ts rebuilds the whole tree for each proof: a few random points besides the edges keep this quick.
      const random = fc.sample(fc.integer({ min: 0, max: size - 1 }), { numRuns: size > 1000 ? 2 : 6, seed: size });
      for (const index of new Set([0, size - 1, Math.min(256, size - 1), ...random])) {
        const { source, reads } = fresh();
        const proof = await source.inclusionProof(index);
        expect(proof).toEqual(inclusionProof(leaves, index));
        expect(verifyInclusion(leaves[index] as Buffer, index, size, proof, root)).toBe(true);
        expect(reads.length, `inclusion of ${index}`).toBeLessThanOrEqual(2 * levelsOf(size));
        expect(new Set(reads).size).toBe(reads.length);
        expect((await source.entry(index)).equals(entryOf(index))).toBe(true);
      }

      for (const oldSize of new Set([1, Math.min(256, size), Math.max(1, size - 1), ...random.map((n) => n + 1)])) {
        const { source, reads } = fresh();
        const proof = await source.consistencyProof(oldSize);
        expect(proof).toEqual(consistencyProof(leaves, oldSize));
        const oldRoot = await source.root(oldSize);
        expect(oldRoot.equals(merkleRoot(leaves.slice(0, oldSize)))).toBe(true);
        expect(verifyConsistency(oldSize, size, oldRoot, root, proof)).toBe(true);
        expect(reads.length, `consistency from ${oldSize}`).toBeLessThanOrEqual(3 * levelsOf(size));
      }
    });
  }

  it("answers for a smaller tree from the larger tree's tiles, and for no larger one", async () => {
    const leaves = Array.from({ length: 600 }, (_, i) => leafHashOf(entryOf(i)));
    const source = tileProofSource(readerOver(specTiles(entriesOf(600))).read, 600);
    expect(await source.inclusionProof(3, 300)).toEqual(inclusionProof(leaves.slice(0, 300), 3));
    expect(await source.consistencyProof(77, 300)).toEqual(consistencyProof(leaves.slice(0, 300), 77));
    await expect(source.root(601)).rejects.toThrow(/tree of 600 leaves/);
    await expect(source.inclusionProof(600)).rejects.toThrow(RangeError);
    await expect(source.entry(600)).rejects.toThrow(RangeError);
  });

  it("refuses a tile of the wrong length instead of reading hashes out of it", async () => {
    const files = specTiles(entriesOf(300));
    files.set("tile/0/001.p/44", (files.get("tile/0/001.p/44") as Buffer).subarray(0, 43 * 32));
    await expect(tileProofSource(readerOver(files).read, 300).root()).rejects.toMatchObject({ code: "TILE_INVALID", message: /tile\/0\/001\.p\/44 is 1376 bytes/ });
  });
});

describe("verifyTilesAgainstCheckpoint", () => {
  const size = 256 * 256 + 3 * 256 + 5;
  const files = specTiles(entriesOf(size));
  const root = merkleRoot(Array.from({ length: size }, (_, i) => leafHashOf(entryOf(i))));
  const audit = (tiles: Map<string, Buffer>, checkpoint = { treeSize: size, root }) => verifyTilesAgainstCheckpoint(readerOver(tiles).read, checkpoint);
  const flipped = (path: string, at: number) => {
    const tampered = new Map(files);
    const changed = Buffer.from(files.get(path) as Buffer);
    changed[at] = (changed[at] as number) ^ 0x01;
    return tampered.set(path, changed);
  };

  it("accepts the tiles of the checkpoint's tree, having read every one", async () => {
    const reader = readerOver(files);
    // 260 level-0 tiles (the last 5 wide), a full level-1 tile and one 3 wide, a level-2 tile 1 wide; 260 bundles.
    expect(await verifyTilesAgainstCheckpoint(reader.read, { treeSize: size, root })).toEqual({ ok: true, treeSize: size, tiles: 263, entryBundles: 260 });
    expect(new Set(reader.reads)).toEqual(new Set(files.keys()));
  });

  it("fails when a byte of any tile or bundle changes, naming it: every tile above level 0 and on the right edge, and a sample of the rest", { timeout: 120_000 }, async () => {
    const paths = [...files.keys()];
    const bulk = paths.filter((path) => /^tile\/(0|entries)\/[0-9]+$/.test(path));
    const chosen = [...paths.filter((path) => !bulk.includes(path)), ...fc.sample(fc.constantFrom(...bulk), 8)];
    expect(chosen.filter((path) => !path.startsWith("tile/0/") && !path.startsWith("tile/entries/")).length).toBe(3);
    for (const path of new Set(chosen)) {
      for (const at of [0, Math.floor(Math.random() * (files.get(path) as Buffer).length)]) {
        const result = await audit(flipped(path, at));
        expect([path, at, result.ok]).toEqual([path, at, false]);
        if (!result.ok) expect(result.reason).toContain(path);
      }
    }
  });

  it("fails for a missing tile, a shortened or lengthened one, another root or size", async () => {
    const missing = new Map(files);
    missing.delete("tile/0/100");
    expect(await audit(missing)).toMatchObject({ ok: false, reason: /no tile\/0\/100/ });
    for (const change of [(b: Buffer) => b.subarray(1), (b: Buffer) => Buffer.concat([b, Buffer.alloc(32)])]) {
      for (const path of ["tile/entries/007", "tile/1/000", "tile/0/259.p/5"]) {
        const resized = new Map(files).set(path, change(files.get(path) as Buffer));
        expect(await audit(resized)).toMatchObject({ ok: false, tile: path });
      }
    }
    expect(await audit(files, { treeSize: size, root: leafHashOf(Buffer.from("other")) })).toMatchObject({ ok: false, tile: null });
    expect((await audit(files, { treeSize: size - 1, root })).ok).toBe(false);
  });
});
