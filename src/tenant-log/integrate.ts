import { type Database, type Queryable, withTransaction } from "../db/database.js";
import { latestTenantCheckpoint, insertTenantCheckpoint } from "../db/queries/tenant-checkpoints.js";
import {
  appendToLog,
  dropPendingEntry,
  type PendingEntry,
  readNodes,
  readPendingEntries,
  readTreeHead,
  tryLockTenantLog,
  type TreeHead,
} from "../db/queries/tenant-log.js";
import type { Logger } from "../logger.js";
import { attestationProblem } from "../trace/attestation.js";
import { sha256Hex } from "../trace/digest.js";
import type { KeyRing } from "../trace/key-store.js";
import { leafHashOf, verifyConsistency } from "../trace/merkle.js";
import { appendLeaves, frontierNodes, rootFromNodes } from "../trace/merkle-nodes.js";
import { openTenantCheckpoint, signTenantCheckpoint, tenantLogOrigin } from "../trace/tenant-checkpoint.js";
import { parseTenantLogEntry } from "../trace/tenant-log-entry.js";
import { consistencyProofFromStore, nodeStore } from "./node-store.js";

/** How many queued entries one transaction integrates: big enough to keep up, small enough to commit fast. */
const BATCH = 2000;

export interface CheckpointCadence {
  /** Sign once the log grew by this many entries since the last checkpoint… */
  every: number;
  /** …or once this long passed since it, if the log grew at all. 0 signs on every integration that grew it. */
  intervalMs: number;
}

export type IntegrationResult =
  | { status: "busy" }
  | { status: "done"; integrated: number; refused: number; treeSize: number; signed: SignedCheckpoint | undefined; more: boolean };

export interface SignedCheckpoint {
  tenantId: string;
  treeSize: number;
  note: string;
}

/**
 * One round of a tenant's sequencer, in one transaction under the tenant's advisory lock (tryLockTenantLog says
 * why a lock held elsewhere is simply left to its holder): the oldest queued entries get the next indices, every
 * node they complete is stored, and — when the cadence says so, or `forceCheckpoint` — a new tenant checkpoint is
 * signed, after checking it is consistent with the last one. An entry whose attestation does not hold (written by
 * someone without the key) is dequeued and reported, never logged.
 */
export async function integrateTenantLog(
  db: Database,
  deps: { keys: KeyRing; log: Logger; cadence: CheckpointCadence },
  tenantId: string,
  options: { forceCheckpoint?: boolean } = {},
): Promise<IntegrationResult> {
  return withTransaction(db, async (client) => {
    if (!(await tryLockTenantLog(client, tenantId))) return { status: "busy" };
    const head = await readTreeHead(client, tenantId);
    const pending = await readPendingEntries(client, tenantId, BATCH);
    const accepted: PendingEntry[] = [];
    for (const entry of pending) {
      const problem = entryProblem(deps.keys, tenantId, entry);
      if (problem === undefined) {
        accepted.push(entry);
      } else {
        await dropPendingEntry(client, entry.runId);
        deps.log.warn("refused a queued tenant-log entry: the run stays unlogged, and `aos audit` reports it", { tenant_id: tenantId, run_id: entry.runId, reason: problem });
      }
    }
    const grown = accepted.length > 0 ? await append(client, tenantId, head, accepted) : head;
    const signed = await maybeSign(client, deps, tenantId, grown, options.forceCheckpoint === true);
    const more = pending.length === BATCH;
    return { status: "done", integrated: accepted.length, refused: pending.length - accepted.length, treeSize: grown.treeSize, signed, more };
  });
}

function entryProblem(keys: KeyRing, tenantId: string, pending: PendingEntry): string | undefined {
  const attested = attestationProblem(keys.attestation, pending.runId, "tenant-log", sha256Hex(pending.entry), pending.attestation);
  if (attested !== undefined) return attested;
  const parsed = parseTenantLogEntry(pending.entry);
  if (!parsed.ok) return `the entry is malformed at ${parsed.member}: ${parsed.reason}`;
  if (parsed.value.run_id !== pending.runId || parsed.value.tenant_id !== tenantId) return "the entry names another run or tenant than its row";
  return undefined;
}

async function append(db: Queryable, tenantId: string, head: TreeHead, entries: readonly PendingEntry[]): Promise<TreeHead> {
  const frontierKeys = frontierNodes(head.treeSize);
  const stored = await readNodes(db, tenantId, frontierKeys);
  const store = nodeStore(stored);
  const frontier = frontierKeys.map((key) => {
    const hash = store.lookup(key);
    if (hash === undefined) throw new Error(`tenant ${tenantId}'s log has no node ${key.level}/${key.index}: its stored tree is incomplete`);
    return { ...key, hash };
  });
  // The stored head must be the fold of the stored frontier: a sequencer never extends a tree it cannot account for.
  if (!rootFromNodes(head.treeSize, store.lookup).equals(head.root)) {
    throw new Error(`tenant ${tenantId}'s log head does not match its stored nodes; it was changed in the database (run \`aos audit\`)`);
  }
  const leaves = entries.map((entry) => leafHashOf(entry.entry));
  const { created, frontier: next } = appendLeaves(head.treeSize, frontier, leaves);
  const treeSize = head.treeSize + entries.length;
  const root = rootFromNodes(treeSize, nodeStore(next).lookup);
  await appendToLog(db, tenantId, { firstIndex: head.treeSize, entries, nodes: created, head: { treeSize, root } });
  return { treeSize, root };
}

/**
 * Signs a checkpoint of the tree as it now stands, if the cadence (or the caller) asks for one. Before signing,
 * the signer proves the new tree extends the last signed one — the last checkpoint's signature with its own trusted
 * keys, then a consistency proof from the stored nodes checked against both roots — and refuses to sign otherwise:
 * a log whose stored history changed under it never gets a checkpoint that would hide the change.
 */
async function maybeSign(
  db: Queryable,
  deps: { keys: KeyRing; log: Logger; cadence: CheckpointCadence },
  tenantId: string,
  head: TreeHead,
  force: boolean,
): Promise<SignedCheckpoint | undefined> {
  const last = await latestTenantCheckpoint(db, tenantId);
  const lastSize = last?.treeSize ?? 0;
  if (head.treeSize === 0 || head.treeSize === lastSize) return undefined;
  const due = force || head.treeSize - lastSize >= deps.cadence.every || last === undefined || Date.now() - last.signedAt.getTime() >= deps.cadence.intervalMs;
  if (!due) return undefined;
  const origin = tenantLogOrigin(deps.keys.signer.name, tenantId);
  if (last !== undefined) {
    const opened = openTenantCheckpoint(last.note, deps.keys.verifiers, { origin });
    const proof = opened.ok ? await consistencyProofFromStore(db, tenantId, opened.checkpoint.treeSize, head.treeSize) : [];
    if (!opened.ok || !verifyConsistency(opened.checkpoint.treeSize, head.treeSize, opened.checkpoint.root, head.root, proof)) {
      const reason = opened.ok ? "the stored tree is not consistent with the last signed checkpoint" : opened.reason;
      throw new Error(`refusing to sign tenant ${tenantId}'s checkpoint at size ${head.treeSize}: ${reason}; the log was changed in the database (run \`aos audit\`)`);
    }
  }
  const note = signTenantCheckpoint({ origin, treeSize: head.treeSize, root: head.root }, deps.keys.signer);
  await insertTenantCheckpoint(db, tenantId, { treeSize: head.treeSize, root: head.root, note });
  return { tenantId, treeSize: head.treeSize, note };
}
