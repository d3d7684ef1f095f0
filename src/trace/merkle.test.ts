import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  consistencyProof,
  emptyTreeRoot,
  inclusionProof,
  leafHashOf,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";

// An independent reference, written straight from the recursive definitions of RFC 6962 §2.1 (MTH, PATH,
// PROOF/SUBPROOF) with array slices: slow, obviously right, and sharing no code with merkle.ts.
function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function naiveMth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = splitPoint(d.length);
  return sha256(Buffer.from([0x01]), naiveMth(d.slice(0, k)), naiveMth(d.slice(k)));
}

function naivePath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = splitPoint(d.length);
  if (m < k) return [...naivePath(m, d.slice(0, k)), naiveMth(d.slice(k))];
  return [...naivePath(m - k, d.slice(k)), naiveMth(d.slice(0, k))];
}

function naiveSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [naiveMth(d)];
  const k = splitPoint(d.length);
  if (m <= k) return [...naiveSubproof(m, d.slice(0, k), b), naiveMth(d.slice(k))];
  return [...naiveSubproof(m - k, d.slice(k), false), naiveMth(d.slice(0, k))];
}

function naiveProof(m: number, d: Buffer[]): Buffer[] {
  return naiveSubproof(m, d, true);
}

function leavesOf(n: number, salt = "leaf"): Buffer[] {
  return Array.from({ length: n }, (_, i) => leafHashOf(Buffer.from(`${salt} ${i}`)));
}

function hex(buffers: readonly Buffer[]): string[] {
  return buffers.map((buffer) => buffer.toString("hex"));
}

function flipped(proof: readonly Buffer[], at: number): Buffer[] {
  return proof.map((hash, i) => (i === at ? Buffer.from(hash.map((byte, j) => (j === 0 ? byte ^ 0x08 : byte))) : hash));
}

const SOME_HASH = sha256(Buffer.from("some other hash"));

interface InclusionCase {
  leaf: Buffer;
  index: number;
  size: number;
  proof: Buffer[];
  root: Buffer;
}

/** Changes a valid inclusion proof must not survive; returns the ones that wrongly still verify. */
function acceptedInclusionCorruptions(good: InclusionCase, otherLeaf: Buffer | undefined): string[] {
  const { leaf, index, size, proof, root } = good;
  const probes: [string, InclusionCase][] = [
    ["index - 1", { ...good, index: index - 1 }],
    ["index + 1", { ...good, index: index + 1 }],
    ["index ^ 2", { ...good, index: index ^ 2 }],
    ["size * 2", { ...good, size: size * 2 }],
    ["size / 2", { ...good, size: Math.floor(size / 2) }],
    ["empty root", { ...good, root: emptyTreeRoot() }],
    ["other root", { ...good, root: SOME_HASH }],
    ["trailing root", { ...good, proof: [...proof, root] }],
    ["trailing leaf", { ...good, proof: [...proof, leaf] }],
    ["preceding root", { ...good, proof: [root, ...proof] }],
    ["short hash appended", { ...good, proof: [...proof, Buffer.alloc(0)] }],
  ];
  if (otherLeaf !== undefined) probes.push(["other leaf", { ...good, leaf: otherLeaf }]);
  if (proof.length > 0) {
    probes.push(["last element removed", { ...good, proof: proof.slice(0, -1) }]);
    probes.push(["first element removed", { ...good, proof: proof.slice(1) }]);
    proof.forEach((_, at) => probes.push([`proof[${at}] flipped`, { ...good, proof: flipped(proof, at) }]));
  }
  if (proof.length > 1) {
    probes.push(["element inserted", { ...good, proof: [proof[0]!, SOME_HASH, ...proof.slice(1)] }]);
  }
  return probes
    .filter(([, p]) => verifyInclusion(p.leaf, p.index, p.size, p.proof, p.root))
    .map(([description]) => `${description} (leaf ${index} of ${size})`);
}

interface ConsistencyCase {
  oldSize: number;
  newSize: number;
  oldRoot: Buffer;
  newRoot: Buffer;
  proof: Buffer[];
}

/** The corruptions transparency-dev/merkle probes with (proof/verify_test.go), for a non-trivial proof. */
function acceptedConsistencyCorruptions(good: ConsistencyCase): string[] {
  const { oldSize, newSize, oldRoot, newRoot, proof } = good;
  const probes: [string, ConsistencyCase][] = [
    ["old size - 1", { ...good, oldSize: oldSize - 1 }],
    ["old size + 1", { ...good, oldSize: oldSize + 1 }],
    ["old size ^ 2", { ...good, oldSize: oldSize ^ 2 }],
    ["new size * 2", { ...good, newSize: newSize * 2 }],
    ["new size / 2", { ...good, newSize: Math.floor(newSize / 2) }],
    ["wrong old root", { ...good, oldRoot: SOME_HASH }],
    ["wrong new root", { ...good, newRoot: SOME_HASH }],
    ["swapped roots", { ...good, oldRoot: newRoot, newRoot: oldRoot }],
    ["empty proof", { ...good, proof: [] }],
    ["trailing old root", { ...good, proof: [...proof, oldRoot] }],
    ["trailing new root", { ...good, proof: [...proof, newRoot] }],
    ["preceding old root", { ...good, proof: [oldRoot, ...proof] }],
    ["preceding new root", { ...good, proof: [newRoot, ...proof] }],
    ["preceding proof[0]", { ...good, proof: [proof[0]!, ...proof] }],
    ["truncated", { ...good, proof: proof.slice(0, -1) }],
    ["first element removed", { ...good, proof: proof.slice(1) }],
    ["short hash appended", { ...good, proof: [...proof, Buffer.alloc(0)] }],
  ];
  proof.forEach((_, at) => probes.push([`proof[${at}] flipped`, { ...good, proof: flipped(proof, at) }]));
  return probes
    .filter(([, p]) => verifyConsistency(p.oldSize, p.newSize, p.oldRoot, p.newRoot, p.proof))
    .map(([description]) => `${description} (${oldSize} -> ${newSize})`);
}

/** Every index for small trees; for larger ones the edges and both sides of the top split. */
function sampleIndices(n: number): number[] {
  if (n <= 48) return Array.from({ length: n }, (_, i) => i);
  let split = 1;
  while (split * 2 < n) split *= 2;
  return [...new Set([0, split - 1, split, n - 1])].sort((a, b) => a - b);
}

describe("reference vectors", () => {
  // Data (not code) from transparency-dev/merkle: the leaf inputs, node hashes and roots in testonly/constants.go,
  // and the inclusion and consistency proofs in proof/verify_test.go (whose leaf numbers there are 1-based).
  const inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
  const leaves = inputs.map((input) => leafHashOf(Buffer.from(input, "hex")));
  const roots = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];
  const rootOf = (size: number): Buffer => Buffer.from(roots[size]!, "hex");

  test("leaf hashes match the published node hashes", () => {
    expect(hex(leaves)).toEqual([
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ]);
  });

  test("roots for every size 0..8 match", () => {
    const computed = roots.map((_, size) => merkleRoot(leaves.slice(0, size)).toString("hex"));
    expect(computed).toEqual(roots);
  });

  test.each([
    [
      0,
      8,
      [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
      ],
    ],
    [
      5,
      8,
      [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
    [
      2,
      3,
      [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      ],
    ],
    [
      1,
      5,
      [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      ],
    ],
    [0, 1, []],
  ])("inclusion proof for leaf %i of %i", (index, size, expected) => {
    const proof = inclusionProof(leaves.slice(0, size), index);
    expect(hex(proof)).toEqual(expected);
    const good = { leaf: leaves[index]!, index, size, proof, root: rootOf(size) };
    expect(verifyInclusion(good.leaf, index, size, proof, good.root)).toBe(true);
    expect(acceptedInclusionCorruptions(good, leaves[(index + 1) % 8])).toEqual([]);
  });

  test.each([
    [
      1,
      8,
      [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
      ],
    ],
    [
      6,
      8,
      [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
    [
      2,
      5,
      [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      ],
    ],
    [
      6,
      7,
      [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
  ])("consistency proof from %i to %i", (oldSize, newSize, expected) => {
    const proof = consistencyProof(leaves.slice(0, newSize), oldSize);
    expect(hex(proof)).toEqual(expected);
    const good = { oldSize, newSize, oldRoot: rootOf(oldSize), newRoot: rootOf(newSize), proof };
    expect(verifyConsistency(oldSize, newSize, good.oldRoot, good.newRoot, proof)).toBe(true);
    expect(acceptedConsistencyCorruptions(good)).toEqual([]);
  });

  test("a tree is consistent with itself through an empty proof", () => {
    expect(consistencyProof(leaves.slice(0, 1), 1)).toEqual([]);
    expect(verifyConsistency(1, 1, rootOf(1), rootOf(1), [])).toBe(true);
  });
});

describe("against the naive RFC 6962 definitions", () => {
  test("merkleRoot equals MTH for every size 0..300", () => {
    const leaves = leavesOf(300);
    for (let n = 0; n <= 300; n++) {
      const expected = naiveMth(leaves.slice(0, n)).toString("hex");
      expect(merkleRoot(leaves.slice(0, n)).toString("hex"), `size ${n}`).toBe(expected);
    }
  });

  test("inclusion proofs equal PATH, verify, and reject corruption, for every size 1..300", () => {
    const leaves = leavesOf(300);
    const accepted: string[] = [];
    for (let n = 1; n <= 300; n++) {
      const tree = leaves.slice(0, n);
      const root = merkleRoot(tree);
      for (const index of sampleIndices(n)) {
        const proof = inclusionProof(tree, index);
        expect(hex(proof), `leaf ${index} of ${n}`).toEqual(hex(naivePath(index, tree)));
        expect(verifyInclusion(tree[index]!, index, n, proof, root), `leaf ${index} of ${n}`).toBe(true);
        const otherLeaf = n > 1 ? tree[(index + 1) % n] : undefined;
        accepted.push(...acceptedInclusionCorruptions({ leaf: tree[index]!, index, size: n, proof, root }, otherLeaf));
      }
    }
    expect(accepted).toEqual([]);
  });

  test("consistency proofs equal PROOF, verify, and reject corruption, for every size 1..300", () => {
    const leaves = leavesOf(300);
    const accepted: string[] = [];
    for (let n = 1; n <= 300; n++) {
      const tree = leaves.slice(0, n);
      const newRoot = merkleRoot(tree);
      for (const oldSize of sampleIndices(n + 1)) {
        const proof = consistencyProof(tree, oldSize);
        const oldRoot = merkleRoot(tree.slice(0, oldSize));
        const expected = oldSize === 0 ? [] : naiveProof(oldSize, tree);
        expect(hex(proof), `${oldSize} -> ${n}`).toEqual(hex(expected));
        expect(verifyConsistency(oldSize, n, oldRoot, newRoot, proof), `${oldSize} -> ${n}`).toBe(true);
        if (proof.length === 0) continue;
        accepted.push(...acceptedConsistencyCorruptions({ oldSize, newSize: n, oldRoot, newRoot, proof }));
      }
    }
    expect(accepted).toEqual([]);
  });

  // With honest roots, a proof made for one size verifies for another only when it is literally that size's
  // proof too: nothing about a different tree can be proven with it.
  test("an inclusion proof checked at another tree size verifies only if it is that size's proof", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 1000 })
          .chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.integer({ min: 1, max: 2 * n }))),
        ([n, index, otherSize]) => {
          fc.pre(otherSize !== n);
          const leaves = leavesOf(2 * n);
          const proof = inclusionProof(leaves.slice(0, n), index);
          expect(hex(proof)).toEqual(hex(naivePath(index, leaves.slice(0, n))));
          const otherProof = index < otherSize ? inclusionProof(leaves.slice(0, otherSize), index) : undefined;
          const sameAsOther = otherProof !== undefined && hex(otherProof).join() === hex(proof).join();
          const otherRoot = merkleRoot(leaves.slice(0, otherSize));
          expect(verifyInclusion(leaves[index]!, index, otherSize, proof, otherRoot)).toBe(sameAsOther);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("a consistency proof checked from another old size verifies only if it is that size's proof", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 1000 })
          .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n - 1 }), fc.nat(n))),
        ([n, oldSize, otherOldSize]) => {
          fc.pre(otherOldSize !== oldSize);
          const leaves = leavesOf(n);
          const proof = consistencyProof(leaves, oldSize);
          expect(hex(proof)).toEqual(hex(naiveProof(oldSize, leaves)));
          const sameAsOther = hex(consistencyProof(leaves, otherOldSize)).join() === hex(proof).join();
          const otherRoot = merkleRoot(leaves.slice(0, otherOldSize));
          expect(verifyConsistency(otherOldSize, n, otherRoot, merkleRoot(leaves), proof)).toBe(sameAsOther);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("large trees", () => {
  const leaves = leavesOf(100_000);

  // Speed is measured by `npm run bench`, never asserted in a test.
  test("100,000 leaves: the root matches MTH", () => {
    expect(merkleRoot(leaves).toString("hex")).toBe(naiveMth(leaves).toString("hex"));
  });

  test("100,000 leaves: proofs for a late leaf and an old size match the definitions and verify", () => {
    const root = merkleRoot(leaves);
    const proof = inclusionProof(leaves, 99_999);
    expect(hex(proof)).toEqual(hex(naivePath(99_999, leaves)));
    expect(verifyInclusion(leaves[99_999]!, 99_999, 100_000, proof, root)).toBe(true);
    const oldRoot = merkleRoot(leaves.slice(0, 65_537));
    const consistency = consistencyProof(leaves, 65_537);
    expect(hex(consistency)).toEqual(hex(naiveProof(65_537, leaves)));
    expect(verifyConsistency(65_537, 100_000, oldRoot, root, consistency)).toBe(true);
  });
});

describe("edge cases", () => {
  const empty = emptyTreeRoot();

  test("the empty tree's root is SHA-256 of nothing", () => {
    expect(merkleRoot([]).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("nothing is included in an empty tree, and an index must be below the size", () => {
    expect(verifyInclusion(SOME_HASH, 0, 0, [], empty)).toBe(false);
    expect(verifyInclusion(SOME_HASH, 1, 1, [], SOME_HASH)).toBe(false);
    expect(verifyInclusion(SOME_HASH, 0, 1, [], SOME_HASH)).toBe(true);
    expect(verifyInclusion(Buffer.alloc(0), 0, 1, [], Buffer.alloc(0))).toBe(false);
  });

  test("trivial consistency cases follow transparency-dev/merkle, plus the fixed empty root", () => {
    expect(verifyConsistency(0, 0, empty, empty, [])).toBe(true);
    expect(verifyConsistency(0, 5, empty, SOME_HASH, [])).toBe(true);
    expect(verifyConsistency(0, 5, SOME_HASH, SOME_HASH, [])).toBe(false);
    expect(verifyConsistency(0, 5, empty, SOME_HASH, [empty])).toBe(false);
    expect(verifyConsistency(3, 3, SOME_HASH, SOME_HASH, [])).toBe(true);
    expect(verifyConsistency(3, 3, SOME_HASH, empty, [])).toBe(false);
    expect(verifyConsistency(3, 3, SOME_HASH, SOME_HASH, [empty])).toBe(false);
    expect(verifyConsistency(2, 1, SOME_HASH, SOME_HASH, [])).toBe(false);
    expect(verifyConsistency(1, 2, SOME_HASH, empty, [])).toBe(false);
  });

  test("bad arguments are refused", () => {
    const leaves = leavesOf(4);
    expect(() => merkleRoot([...leaves, Buffer.alloc(31)])).toThrow(TypeError);
    expect(() => inclusionProof(leaves, 4)).toThrow(RangeError);
    expect(() => inclusionProof(leaves, -1)).toThrow(RangeError);
    expect(() => inclusionProof(leaves, 1.5)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 5)).toThrow(RangeError);
    expect(verifyInclusion(leaves[0]!, 0.5, 4, [], merkleRoot(leaves))).toBe(false);
  });
});
