import type { Queryable } from "../db/database.js";
import { readNodes } from "../db/queries/tenant-log.js";
import { consistencyRanges, inclusionRanges, type NodeKey, type NodeLookup, nodeKeyText, nodesFor, rangeHashes } from "../trace/merkle-nodes.js";

/** Nodes read from the database, looked up by (level, index). */
export function nodeStore(nodes: readonly (NodeKey & { hash: Buffer })[]): { lookup: NodeLookup } {
  const byKey = new Map(nodes.map((node) => [nodeKeyText(node), node.hash]));
  return { lookup: (key) => byKey.get(nodeKeyText(key)) };
}

/** RFC 9162 PATH(index, D[treeSize]) of a tenant's log, from its stored nodes in one query (O(log n) rows). */
export async function inclusionProofFromStore(db: Queryable, tenantId: string, index: number, treeSize: number): Promise<Buffer[]> {
  const ranges = inclusionRanges(index, treeSize);
  return rangeHashes(ranges, nodeStore(await readNodes(db, tenantId, nodesFor(ranges))).lookup);
}

/** RFC 9162 PROOF(oldSize, D[treeSize]) of a tenant's log, from its stored nodes in one query (O(log n) rows). */
export async function consistencyProofFromStore(db: Queryable, tenantId: string, oldSize: number, treeSize: number): Promise<Buffer[]> {
  const ranges = consistencyRanges(oldSize, treeSize);
  return rangeHashes(ranges, nodeStore(await readNodes(db, tenantId, nodesFor(ranges))).lookup);
}
