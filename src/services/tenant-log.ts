import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { latestTenantCheckpoint, listTenantCheckpoints } from "../db/queries/tenant-checkpoints.js";
import {
  countPendingEntries,
  type LoggedEntry,
  queueEntry,
  readLevel,
  readLoggedEntries,
  readTreeHead,
  stalledEntries,
  strayLogRows,
  unloggedSignedRuns,
} from "../db/queries/tenant-log.js";
import { AppError } from "../errors.js";
import { type ProofKeys, proveStoredTrace } from "../proof/prove-stored.js";
import { loadStoredTrace } from "../proof/stored-trace.js";
import { silentLogger } from "../logger.js";
import { consistencyProofFromStore } from "../tenant-log/node-store.js";
import { sequencerFor } from "../tenant-log/sequencer.js";
import { attest } from "../trace/attestation.js";
import { sha256Hex } from "../trace/digest.js";
import { loadKeyRing } from "../trace/key-store.js";
import { cosignedNote, PENDING_GRACE_MS } from "../tenant-log/run-inclusion.js";
import { leafHashOf, verifyConsistency } from "../trace/merkle.js";
import { MerkleLevels } from "../trace/merkle-nodes.js";
import type { NoteVerifier } from "../trace/signed-note.js";
import { openTenantCheckpoint, type TenantCheckpoint } from "../trace/tenant-checkpoint.js";
import { encodeTenantLogEntry, parseTenantLogEntry } from "../trace/tenant-log-entry.js";
import { requireTenant } from "./agents.js";
import { proofKeys } from "./proof-keys.js";

/** The latest signed checkpoint of the tenant's log, with the witnesses' cosignatures after the log's signature. */
export async function latestCheckpointNote(db: Database, tenantId: string): Promise<{ treeSize: number; note: string }> {
  const tenant = requireTenant(tenantId);
  const checkpoint = await latestTenantCheckpoint(db.pool, tenant);
  if (checkpoint === undefined) {
    throw new AppError("RUN_NOT_FOUND", `tenant ${tenant}'s log has no signed checkpoint yet: it is signed once a run of the tenant has finished and been integrated`, { details: { tenant_id: tenant } });
  }
  return { treeSize: checkpoint.treeSize, note: await cosignedNote(db.pool, tenant, checkpoint) };
}

/** A signed tenant checkpoint as read from a file: opened with the trusted keys, with the tenant its origin names. */
export interface OpenedTenantCheckpoint {
  checkpoint: TenantCheckpoint;
  tenantId: string;
  signedBy: string;
}

/** Opens a tenant checkpoint someone kept; what is wrong with it is a usage error that says so. */
export function openKeptCheckpoint(note: string, trusted: readonly NoteVerifier[], what: string): OpenedTenantCheckpoint {
  const opened = openTenantCheckpoint(note, trusted);
  if (!opened.ok) throw new AppError("VALIDATION_ERROR", `${what} is not a tenant checkpoint a trusted key signed: ${opened.reason}`, { details: { field: what } });
  const { origin } = opened.checkpoint;
  let tenantId: string;
  try {
    tenantId = decodeURIComponent(origin.slice(origin.indexOf("/tenant/") + "/tenant/".length));
  } catch {
    throw new AppError("VALIDATION_ERROR", `${what}'s origin "${origin}" does not name a tenant`, { details: { field: what } });
  }
  return { checkpoint: opened.checkpoint, tenantId, signedBy: opened.signedBy };
}

export interface ConsistencyResult {
  consistent: boolean;
  origin: string;
  old_size: number;
  new_size: number;
  /** The proof's hashes, hex, as RFC 9162 PROOF(old, D[new]). */
  proof: string[];
  reason: string | null;
}

/**
 * Whether the newer checkpoint's tree extends the older's (RFC 9162 §2.1.4.2), with the proof hashes taken from
 * `proofSource` — the database's stored nodes, or exported tiles — which need not be trusted: the proof is checked
 * against the two signed roots.
 */
export async function checkConsistency(
  older: OpenedTenantCheckpoint,
  newer: OpenedTenantCheckpoint,
  proofSource: (oldSize: number, newSize: number) => Promise<Buffer[]>,
): Promise<ConsistencyResult> {
  const { origin } = older.checkpoint;
  const base = { origin, old_size: older.checkpoint.treeSize, new_size: newer.checkpoint.treeSize };
  if (newer.checkpoint.origin !== origin) return { ...base, consistent: false, proof: [], reason: `the checkpoints are of two logs: "${origin}" and "${newer.checkpoint.origin}"` };
  if (base.new_size < base.old_size) return { ...base, consistent: false, proof: [], reason: `the newer checkpoint's tree (${base.new_size}) is smaller than the older's (${base.old_size}): the log shrank` };
  const proof = base.old_size === base.new_size || base.old_size === 0 ? [] : await proofSource(base.old_size, base.new_size);
  const consistent = verifyConsistency(base.old_size, base.new_size, older.checkpoint.root, newer.checkpoint.root, proof);
  const reason = consistent ? null : base.old_size === base.new_size ? "two different checkpoints of the same size: the log forked" : "the proof does not lead from the older root to the newer: the log was rewritten, or forked";
  return { ...base, consistent, proof: proof.map((hash) => hash.toString("hex")), reason };
}

/** The consistency proof from the database's stored tree of the tenant. */
export function storedConsistencySource(db: Database, tenantId: string): (oldSize: number, newSize: number) => Promise<Buffer[]> {
  return async (oldSize, newSize) => {
    const head = await readTreeHead(db.pool, tenantId);
    if (newSize > head.treeSize) throw new AppError("VALIDATION_ERROR", `this database's log of tenant ${tenantId} has ${head.treeSize} entries, fewer than the newer checkpoint's ${newSize}`);
    return consistencyProofFromStore(db.pool, tenantId, oldSize, newSize);
  };
}

export type AuditProblem =
  | { kind: "log"; detail: string }
  | { kind: "missing" | "changed"; index: number; run_id: string; detail: string }
  | { kind: "unlogged"; run_id: string; detail: string };

export interface AuditReport {
  tenant_id: string;
  tree_size: number;
  checkpoints_checked: number;
  since: { tree_size: number; consistent: boolean } | null;
  runs_checked: number;
  pending: number;
  problems: AuditProblem[];
}

const AUDIT_BATCH = 5000;

/**
 * Replays a tenant's log against the database (docs/proofs.md, "Auditing"): recomputes the tree from the stored
 * entries and holds every signed checkpoint, the stored nodes and the kept `since` checkpoint to it; verifies every
 * logged run from its stored rows and compares it with its entry; and lists every signed run the log does not hold.
 * So a run deleted whole (missing), rewritten or re-ended (changed), slipped past the log (unlogged), or a log
 * rewritten since a checkpoint someone kept, is named.
 */
export async function auditTenantLog(db: Database, config: Config, tenantId: string, since: string | undefined): Promise<AuditReport> {
  const tenant = requireTenant(tenantId);
  const keys = proofKeys(config);
  const head = await readTreeHead(db.pool, tenant);
  const replayed = await replayEntries(db, keys, tenant, head.treeSize);
  const { problems } = replayed;
  const tree = new MerkleLevels(replayed.leaves);
  if (replayed.leaves.length === head.treeSize && !tree.root().equals(head.root)) problems.push({ kind: "log", detail: "the log's stored head is not the root of its entries" });
  problems.push(...(await storedNodeProblems(db, tenant, tree)));
  const checkpoints = await listTenantCheckpoints(db.pool, tenant);
  for (const checkpoint of checkpoints) {
    const opened = openTenantCheckpoint(checkpoint.note, keys.verifiers);
    if (!opened.ok) problems.push({ kind: "log", detail: `the stored checkpoint of size ${checkpoint.treeSize}: ${opened.reason}` });
    else if (!rootMatches(tree, opened.checkpoint)) problems.push({ kind: "log", detail: `the signed checkpoint of size ${opened.checkpoint.treeSize} is not the root of the log's first ${opened.checkpoint.treeSize} entries: the log was changed after it was signed` });
  }
  let kept: AuditReport["since"] = null;
  if (since !== undefined) {
    const older = openKeptCheckpoint(since, keys.verifiers, "the checkpoint to audit since");
    if (older.tenantId !== tenant) throw new AppError("VALIDATION_ERROR", `the checkpoint to audit since is of tenant ${older.tenantId}'s log, not ${tenant}'s`, { details: { field: "since" } });
    kept = { tree_size: older.checkpoint.treeSize, consistent: rootMatches(tree, older.checkpoint) };
    if (!kept.consistent) problems.push({ kind: "log", detail: `the log does not extend the kept checkpoint of size ${older.checkpoint.treeSize}: its first ${older.checkpoint.treeSize} entries have another root, or there are fewer` });
  }
  for (const { runId } of await unloggedSignedRuns(db.pool, tenant)) {
    problems.push({ kind: "unlogged", run_id: runId, detail: "the run is signed as finished, but its tenant's log neither holds nor queues it (one that ended before this database had tenant logs: `aos log backfill`)" });
  }
  problems.push(...(await strayRowProblems(db, tenant, head.treeSize)));
  const stalled = await stalledEntries(db.pool, tenant, PENDING_GRACE_MS);
  if (stalled.length > 0) {
    problems.push({ kind: "log", detail: `${stalled.length} entr${stalled.length === 1 ? "y has" : "ies have"} waited more than ${PENDING_GRACE_MS / 1000} s to be integrated (run ${stalled[0]}${stalled.length > 1 ? ", …" : ""}): no worker integrates this log, or something blocks it (a row past its head, a held lock)` });
  }
  return {
    tenant_id: tenant,
    tree_size: head.treeSize,
    checkpoints_checked: checkpoints.length,
    since: kept,
    runs_checked: replayed.leaves.length,
    pending: await countPendingEntries(db.pool, tenant),
    problems,
  };
}

function rootMatches(tree: MerkleLevels, checkpoint: TenantCheckpoint): boolean {
  return checkpoint.treeSize <= tree.size && tree.root(checkpoint.treeSize).equals(checkpoint.root);
}

/** The entries in index order, each run verified against its entry; stops at the first index the log lacks. */
async function replayEntries(db: Database, keys: ProofKeys, tenant: string, treeSize: number): Promise<{ leaves: Buffer[]; problems: AuditProblem[] }> {
  const leaves: Buffer[] = [];
  const problems: AuditProblem[] = [];
  for (let from = 0; from < treeSize; from += AUDIT_BATCH) {
    const entries = await readLoggedEntries(db.pool, tenant, from, Math.min(treeSize, from + AUDIT_BATCH));
    for (const entry of entries) {
      if (entry.index !== leaves.length) {
        problems.push({ kind: "log", detail: `the log has no entry ${leaves.length}: entries were deleted` });
        return { leaves, problems };
      }
      leaves.push(leafHashOf(entry.entry));
      const problem = await runProblem(db, keys, tenant, entry);
      if (problem !== undefined) problems.push(problem);
    }
  }
  if (leaves.length < treeSize) problems.push({ kind: "log", detail: `the log has ${leaves.length} entries, but its head says ${treeSize}: entries were deleted` });
  return { leaves, problems };
}

/** Whether the logged run is still in the database, verifying, as its entry records it. */
async function runProblem(db: Database, keys: ProofKeys, tenant: string, entry: LoggedEntry): Promise<AuditProblem | undefined> {
  const at = { index: entry.index, run_id: entry.runId };
  const parsed = parseTenantLogEntry(entry.entry);
  if (!parsed.ok || parsed.value.run_id !== entry.runId || parsed.value.tenant_id !== tenant) return { kind: "changed", ...at, detail: "the log's entry is malformed, or names another run or tenant" };
  const stored = await loadStoredTrace(db.pool, tenant, entry.runId);
  if (stored === undefined) return { kind: "missing", ...at, detail: "the log holds this run, but the database has no trace of it: it was deleted" };
  const proof = await proveStoredTrace(db.pool, stored, keys);
  const { verdict } = proof;
  if (verdict.status !== "VERIFIED") return { kind: "changed", ...at, detail: `the run's proof is ${verdict.status}${verdict.field === null ? "" : ` (${verdict.field})`}: ${verdict.failureReason ?? ""}` };
  const end = proof.facts?.end;
  const logged = parsed.value;
  const same = end !== null && end !== undefined && end.status === logged.status && end.completed_at === logged.completed_at && verdict.merkleRoot === logged.merkle_root && verdict.rootHash === logged.chain_head && verdict.checkpoint?.treeSize === logged.tree_size;
  return same ? undefined : { kind: "changed", ...at, detail: "the run in the database is not the run the log recorded (its end, root or size differ): it was re-ended or rewritten" };
}

/** Every stored node must be the recomputed tree's: a node changed in place would corrupt the proofs served from it. */
async function storedNodeProblems(db: Database, tenant: string, tree: MerkleLevels): Promise<AuditProblem[]> {
  for (let level = 0; 2 ** level <= tree.size; level++) {
    const width = Math.floor(tree.size / 2 ** level);
    for (let from = 0; from < width; from += AUDIT_BATCH) {
      const stored = await readLevel(db.pool, tenant, level, from, Math.min(width, from + AUDIT_BATCH));
      const bad = stored.findIndex((hash, offset) => !hash.equals(tree.lookup({ level, index: from + offset }) as Buffer));
      if (bad >= 0 || stored.length < Math.min(width, from + AUDIT_BATCH) - from) {
        return [{ kind: "log", detail: `the stored node at level ${level}, index ${from + Math.max(bad, stored.length)} is not the tree's: the log's nodes were changed` }];
      }
    }
  }
  return [];
}

export interface BackfillReport {
  tenant_id: string;
  queued: string[];
  /** Unlogged runs that no longer verify: left out, and named. */
  refused: { run_id: string; reason: string }[];
}

/**
 * Logs the tenant's signed runs its log neither holds nor queues — those that ended before this database had tenant
 * logs (migration 0013), or whose entry was lost — each verified from its stored rows first (all but the tenant-log
 * step, which is what is missing): only a VERIFIED run's entry is queued, attested with this host's key, and
 * integrated. A run that does not verify is named and left out.
 */
export async function backfillTenantLog(db: Database, config: Config, tenantId: string): Promise<BackfillReport> {
  const tenant = requireTenant(tenantId);
  const keys = loadKeyRing(config);
  const report: BackfillReport = { tenant_id: tenant, queued: [], refused: [] };
  for (const { runId } of await unloggedSignedRuns(db.pool, tenant)) {
    const stored = await loadStoredTrace(db.pool, tenant, runId);
    const proof = stored && (await proveStoredTrace(db.pool, stored, { verifiers: keys.verifiers, attestation: keys.attestation }, { tenantLog: false }));
    const end = proof?.facts?.end;
    const { verdict } = proof ?? {};
    if (proof === undefined || verdict?.status !== "VERIFIED" || end === null || end === undefined || verdict.checkpoint === null) {
      report.refused.push({ run_id: runId, reason: verdict === undefined ? "no trace" : `${verdict.status}: ${verdict.failureReason ?? ""}` });
      continue;
    }
    const entry = encodeTenantLogEntry({
      kind: "tenant_log_entry",
      format: "aos-trace-v2",
      tenant_id: tenant,
      run_id: runId,
      status: end.status,
      completed_at: end.completed_at,
      tree_size: verdict.checkpoint.treeSize,
      merkle_root: verdict.merkleRoot as string,
      chain_head: verdict.rootHash as string,
    });
    await queueEntry(db.pool, tenant, { runId, entry, attestation: attest(keys.attestation.current, runId, "tenant-log", sha256Hex(entry)) });
    report.queued.push(runId);
  }
  if (report.queued.length > 0) await sequencerFor(db, config, keys, silentLogger).settle(tenant);
  return report;
}

/** Rows past the log's head (an entry, a node, a cosignature beyond every checkpoint): planted, they wedge the sequencer. */
async function strayRowProblems(db: Database, tenant: string, treeSize: number): Promise<AuditProblem[]> {
  return (await strayLogRows(db.pool, tenant, treeSize)).map((row) => ({ kind: "log" as const, detail: `${row.what} lies past the log's head of ${treeSize} entries: it was written into the database, and blocks or misleads the sequencer` }));
}
