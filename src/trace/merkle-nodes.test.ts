import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { leafHashOf, verifyConsistency, verifyInclusion } from "./merkle.js";
import {
  appendLeaves,
  consistencyRanges,
  frontierNodes,
  inclusionRanges,
  MerkleLevels,
  type NodeKey,
  nodeKeyText,
  nodesFor,
  rangeHashes,
  rootFromNodes,
} from "./merkle-nodes.js";

// The RFC 6962 §2.1 definitions written out recursively with slices, sharing no code with merkle-nodes.ts.
function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = split(d.length);
  return sha256(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHashOf(Buffer.from(`entry ${i}`)));
const hex = (list: readonly Buffer[]) => list.map((b) => b.toString("hex"));

describe("proofs from complete nodes", () => {
  const all = leaves(70);
  const levels = new MerkleLevels(all);

  test("every root, inclusion and consistency proof of trees up to 70 leaves is the RFC's, read from a larger tree's nodes", () => {
    for (let n = 1; n <= 70; n++) {
      const d = all.slice(0, n);
      expect(levels.root(n).equals(mth(d))).toBe(true);
      for (let i = 0; i < n; i++) {
        const proof = levels.inclusionProof(i, n);
        expect(hex(proof)).toEqual(hex(path(i, d)));
        expect(verifyInclusion(d[i]!, i, n, proof, mth(d))).toBe(true);
      }
      for (let m = 0; m <= n; m++) {
        const proof = levels.consistencyProof(m, n);
        expect(hex(proof)).toEqual(hex(m === 0 || m === n ? [] : subproof(m, d, true)));
        expect(verifyConsistency(m, n, mth(all.slice(0, m)), mth(d), proof)).toBe(true);
      }
    }
  });

  test("a proof needs O(log n) nodes: at most (log₂ n)² even at 2^40 leaves", () => {
    for (const n of [1_000, 1_000_000, 2 ** 40 - 1, 2 ** 40 + 12345]) {
      const bound = Math.ceil(Math.log2(n)) ** 2;
      expect(nodesFor(inclusionRanges(n - 2, n)).length).toBeLessThanOrEqual(bound);
      expect(nodesFor(consistencyRanges(Math.floor(n / 3), n)).length).toBeLessThanOrEqual(bound);
      expect(frontierNodes(n).length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
    }
  });

  test("a missing node is an error, never a wrong hash", () => {
    expect(() => rangeHashes(inclusionRanges(3, 10), () => undefined)).toThrow(/no node/);
  });
});

describe("appending leaves from the frontier alone", () => {
  test("any batching yields exactly the complete nodes and the frontier of the whole tree", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 20 }), (batches) => {
        const store = new Map<string, Buffer>();
        let frontier: (NodeKey & { hash: Buffer })[] = [];
        let size = 0;
        const all = leaves(batches.reduce((a, b) => a + b, 0));
        for (const count of batches) {
          const appended = appendLeaves(size, frontier, all.slice(size, size + count));
          for (const node of appended.created) {
            expect(store.has(nodeKeyText(node))).toBe(false);
            store.set(nodeKeyText(node), node.hash);
          }
          size += count;
          frontier = appended.frontier;
          expect(frontier.map(nodeKeyText)).toEqual(frontierNodes(size).map(nodeKeyText));
          expect(rootFromNodes(size, (key) => store.get(nodeKeyText(key))).equals(mth(all.slice(0, size)))).toBe(true);
        }
        // Exactly the complete nodes: 2n − popcount(n) of them.
        const popcount = size.toString(2).replaceAll("0", "").length;
        expect(store.size).toBe(2 * size - popcount);
      }),
      { numRuns: 200 },
    );
  });
});
