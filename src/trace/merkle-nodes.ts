import { createHash } from "node:crypto";

/**
 * RFC 6962 proofs from stored nodes. A tree's node at (level, index) is the root of the complete subtree of 2^level
 * leaves starting at leaf index·2^level; once its last leaf exists it never changes, so a log can store it once and
 * answer every later proof from it. Every subtree the RFC's PATH and PROOF name is either such a node or, on the
 * tree's right edge, a range that splits into at most log₂ n of them (its binary decomposition, left to right),
 * folded right to left. So an inclusion or consistency proof is O(log n) node reads, whatever the tree's size —
 * the same plan serves a log in the database (nodes read in one query) and a trace's levels held in memory.
 */
export interface NodeKey {
  level: number;
  index: number;
}

/** Leaves [start, end) of a tree: a subtree the RFC's recursion names. */
interface Range {
  start: number;
  end: number;
}

export type NodeLookup = (key: NodeKey) => Buffer | undefined;

export const HASH_SIZE = 32;
const NODE_PREFIX = Buffer.from([0x01]);
const EMPTY_TREE_ROOT = createHash("sha256").digest();

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

export function nodeKeyText({ level, index }: NodeKey): string {
  return `${level}/${index}`;
}

/**
 * The complete nodes whose fold is MTH(D[start:end]), left to right: greedily the largest aligned power of two
 * that fits. For a range the RFC names, start is aligned to the largest power of two below its width, so this is
 * exactly the RFC's split, applied until every part is complete.
 */
export function rangeNodes({ start, end }: Range): NodeKey[] {
  const nodes: NodeKey[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level += 1;
    nodes.push({ level, index: at / 2 ** level });
    at += 2 ** level;
  }
  return nodes;
}

/** RFC 9162 §2.1.3.1 PATH(index, D[size]) as the subtrees it hashes, from the leaf up. */
export function inclusionRanges(index: number, size: number): Range[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${size} leaves`);
  }
  const ranges: Range[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const split = start + largestPowerOfTwoBelow(end - start);
    if (index < split) {
      ranges.push({ start: split, end });
      end = split;
    } else {
      ranges.push({ start, end: split });
      start = split;
    }
  }
  return ranges.reverse();
}

/** RFC 9162 §2.1.4.1 PROOF(oldSize, D[size]) as the subtrees it hashes, in the RFC's order. */
export function consistencyRanges(oldSize: number, size: number): Range[] {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(size) || oldSize < 0 || oldSize > size) {
    throw new RangeError(`old tree size ${oldSize} is outside 0..${size}`);
  }
  if (oldSize === 0 || oldSize === size) return [];
  const siblings: Range[] = [];
  let start = 0;
  let end = size;
  let oldIsWholeSubtree = true;
  while (oldSize < end) {
    const split = start + largestPowerOfTwoBelow(end - start);
    if (oldSize <= split) {
      siblings.push({ start: split, end });
      end = split;
    } else {
      siblings.push({ start, end: split });
      start = split;
      oldIsWholeSubtree = false;
    }
  }
  // SUBPROOF(m, D[m], false) contributes MTH(D[m]) itself, ahead of every sibling collected on the way down.
  const head = oldIsWholeSubtree ? [] : [{ start, end }];
  return [...head, ...siblings.reverse()];
}

/** Every node the given ranges need, each once. */
export function nodesFor(ranges: readonly Range[]): NodeKey[] {
  const seen = new Map<string, NodeKey>();
  for (const range of ranges) for (const node of rangeNodes(range)) seen.set(nodeKeyText(node), node);
  return [...seen.values()];
}

/** MTH of each range from its nodes; throws when a node is missing, which means the store does not hold the tree. */
export function rangeHashes(ranges: readonly Range[], lookup: NodeLookup): Buffer[] {
  return ranges.map((range) => {
    const hashes = rangeNodes(range).map((node) => {
      const hash = lookup(node);
      if (hash === undefined || hash.length !== HASH_SIZE) throw new Error(`the tree has no node ${nodeKeyText(node)}`);
      return hash;
    });
    return hashes.reduceRight((right, left) => nodeHash(left, right));
  });
}

/** MTH(D[size]) from the nodes: the fold of the tree's binary decomposition. */
export function rootFromNodes(size: number, lookup: NodeLookup): Buffer {
  return size === 0 ? Buffer.from(EMPTY_TREE_ROOT) : (rangeHashes([{ start: 0, end: size }], lookup)[0] as Buffer);
}

/** The nodes a tree of `size` leaves is the fold of: one per set bit of size, largest first (its compact range). */
export function frontierNodes(size: number): NodeKey[] {
  return size === 0 ? [] : rangeNodes({ start: 0, end: size });
}

/**
 * Appends leaves to a tree known by its frontier, returning every node that becomes complete (the leaves
 * themselves at level 0 included) and the new frontier. `frontier` must be frontierNodes(size) with their hashes.
 */
export function appendLeaves(
  size: number,
  frontier: readonly (NodeKey & { hash: Buffer })[],
  leafHashes: readonly Buffer[],
): { created: (NodeKey & { hash: Buffer })[]; frontier: (NodeKey & { hash: Buffer })[] } {
  const stack = [...frontier];
  const created: (NodeKey & { hash: Buffer })[] = [];
  let next = size;
  for (const leaf of leafHashes) {
    let node = { level: 0, index: next, hash: leaf };
    created.push(node);
    // Merging with the stack's top while it is this node's left sibling completes each parent in turn.
    while (stack.length > 0 && (stack.at(-1) as NodeKey).level === node.level) {
      const left = stack.pop() as NodeKey & { hash: Buffer };
      node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
      created.push(node);
    }
    stack.push(node);
    next += 1;
  }
  return { created, frontier: stack };
}

/** Every complete node of a tree held in memory, level by level: built once in O(n), then each proof is O(log n). */
export class MerkleLevels {
  private readonly levels: Buffer[][];

  constructor(leafHashes: readonly Buffer[]) {
    this.levels = [leafHashes.slice()];
    for (let below = this.levels[0] as Buffer[]; below.length > 1; ) {
      const level: Buffer[] = [];
      for (let i = 0; i + 1 < below.length; i += 2) level.push(nodeHash(below[i] as Buffer, below[i + 1] as Buffer));
      this.levels.push(level);
      below = level;
    }
  }

  get size(): number {
    return (this.levels[0] as Buffer[]).length;
  }

  readonly lookup: NodeLookup = ({ level, index }) => this.levels[level]?.[index];

  root(size = this.size): Buffer {
    return rootFromNodes(size, this.lookup);
  }

  inclusionProof(index: number, size = this.size): Buffer[] {
    return rangeHashes(inclusionRanges(index, size), this.lookup);
  }

  consistencyProof(oldSize: number, size = this.size): Buffer[] {
    return rangeHashes(consistencyRanges(oldSize, size), this.lookup);
  }
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
