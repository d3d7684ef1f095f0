import { createHash, hash } from "node:crypto";
import { HASH_SIZE, MerkleLevels, nodeHash } from "./merkle-nodes.js";

/**
 * The Merkle Tree Hash of RFC 6962 §2.1 / RFC 9162 §2.1 over leaf hashes, with its inclusion and consistency
 * proofs. Inputs are leaf hashes (SHA-256(0x00 ‖ data)), never raw data, so MTH of one leaf is that leaf hash;
 * an interior node is SHA-256(0x01 ‖ left ‖ right) and a tree of n leaves splits at the largest power of two
 * smaller than n.
 *
 * Tree sizes and indices are JavaScript numbers (safe integers): traces are nowhere near 2^53 steps, and the
 * verification algorithms below shift with division so they stay exact past 32 bits.
 */
export { HASH_SIZE };

const LEAF_PREFIX = Buffer.from([0x00]);
const EMPTY_TREE_ROOT = createHash("sha256").digest();

export function leafHashOf(data: Buffer): Buffer {
  return createHash("sha256").update(LEAF_PREFIX).update(data).digest();
}

/** MTH({}) = SHA-256 of the empty string. */
export function emptyTreeRoot(): Buffer {
  return Buffer.from(EMPTY_TREE_ROOT);
}

export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  assertLeaves(leaves);
  return new MerkleLevels(leaves).root();
}

/**
 * The same Merkle Tree Hash over leaf hashes given as lowercase hex, returned as hex: the verifier's fast path. Each
 * interior node is written into one reused buffer (0x01 ‖ left ‖ right) and hashed one-shot, so a 100,000-leaf
 * root costs about one small hash per leaf and no Buffer per node.
 */
export function merkleRootHex(leaves: readonly string[]): string {
  if (leaves.length === 0) return EMPTY_TREE_ROOT.toString("hex");
  const level = [...leaves];
  const node = Buffer.alloc(1 + 2 * HASH_SIZE);
  node[0] = 0x01;
  let width = level.length;
  while (width > 1) {
    let next = 0;
    for (let i = 0; i + 1 < width; i += 2) {
      node.write(level[i] as string, 1, "hex");
      node.write(level[i + 1] as string, 1 + HASH_SIZE, "hex");
      level[next++] = hash("sha256", node, "hex");
    }
    if (isOdd(width)) level[next++] = level[width - 1] as string;
    width = next;
  }
  return level[0] as string;
}

/**
 * RFC 9162 §2.1.3.1 PATH(m, D[n]): the audit path of leaf `index`, ordered from the leaf up. For many proofs of one
 * tree, build its MerkleLevels once (merkle-nodes.ts): each proof is then O(log n).
 */
export function inclusionProof(leaves: readonly Buffer[], index: number): Buffer[] {
  assertLeaves(leaves);
  return new MerkleLevels(leaves).inclusionProof(index);
}

/**
 * RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true): proves the tree of the first `oldSize` leaves is
 * a prefix of the tree of all of them. Empty when oldSize is 0 or the whole tree, as there is nothing to prove.
 */
export function consistencyProof(leaves: readonly Buffer[], oldSize: number): Buffer[] {
  assertLeaves(leaves);
  return new MerkleLevels(leaves).consistencyProof(oldSize);
}

/** RFC 9162 §2.1.3.2, step for step. */
export function verifyInclusion(
  leafHash: Buffer,
  index: number,
  treeSize: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!isHash(leafHash) || !isHash(root) || !proof.every(isHash)) return false;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0) return false;
  if (index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2, step for step, for 0 < oldSize < newSize. The RFC leaves the trivial cases out; like
 * transparency-dev/merkle, equal sizes need equal roots and an empty proof, and an empty old tree needs an
 * empty proof (it is a prefix of every tree) — here also the empty tree's root, since that root is fixed.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Buffer,
  newRoot: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0) return false;
  if (oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && oldRoot.equals(newRoot);
  if (oldSize === 0) return proof.length === 0 && oldRoot.equals(EMPTY_TREE_ROOT);
  return verifyNonTrivialConsistency(oldSize, newSize, oldRoot, newRoot, proof);
}

function verifyNonTrivialConsistency(
  first: number,
  second: number,
  firstHash: Buffer,
  secondHash: Buffer,
  consistencyPath: readonly Buffer[],
): boolean {
  if (consistencyPath.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstHash, ...consistencyPath] : [...consistencyPath];
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0] as Buffer;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return fr.equals(firstHash) && sr.equals(secondHash) && sn === 0;
}

function assertLeaves(leaves: readonly Buffer[]): void {
  leaves.forEach((leaf, index) => {
    if (!isHash(leaf)) throw new TypeError(`leaf ${index} is not a ${HASH_SIZE}-byte hash`);
  });
}

function isHash(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && value.length === HASH_SIZE;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}
