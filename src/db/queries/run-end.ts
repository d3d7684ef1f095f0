import type { Queryable } from "../database.js";
import type { StoredCheckpoint } from "./checkpoints.js";
import { type RecordContext, type RunRecords, runRecordCtes } from "./run-records.js";
import { endRunUpdate } from "./run-status.js";
import { StatementParams } from "./statement-params.js";
import { type PendingEntry, pendingEntryInsert } from "./tenant-log.js";

export interface EndOfRun {
  runId: string;
  epoch: number;
  status: "succeeded" | "failed" | "halted" | "cancelled";
  errorMessage: string | null;
  terminationReason: string;
  completedAt: Date;
  durationMs: number | null;
  traceStatus: "completed" | "failed" | "aborted";
  /** The signed end of the trace; null for a run ended unsigned, its trace having failed its integrity check. */
  signed: SignedEnd | null;
  records: RunRecords;
}

export interface SignedEnd {
  /** The run-end leaf's canonical bytes. */
  runEnd: Buffer;
  /** The chain head after the run-end (also the run's final cursor), the Merkle root and the tree size. */
  rootHash: string;
  merkleRoot: string;
  treeSize: number;
  checkpoint: StoredCheckpoint;
  /** The run's entry for its tenant's log, queued with the ending (docs/proofs.md, "The tenant log"). */
  logEntry: Omit<PendingEntry, "runId">;
}

/**
 * Ends a run in ONE statement: its terminal status (fenced by the holder's epoch), its trace's completion with the
 * run-end and finalization hashes (written once: the trace trigger refuses a second write), the signed checkpoint,
 * and the run's records. Every write selects from the fenced update of the run, so a worker that lost the run
 * writes nothing at all; one statement commits as one, so no terminal run lacks its trace completion, checkpoint or
 * records, and a record that cannot be written fails the whole of it. A run ended unsigned gets no run-end and no
 * checkpoint and queues no tenant-log entry. The trace's metadata takes the error message's first 200 characters, as the proof expects it.
 * Returns false when the fence did not match.
 */
export async function endRunWithRecords(db: Queryable, end: EndOfRun): Promise<boolean> {
  const params = new StatementParams();
  const p = (value: unknown, type: string) => params.param(value, type);
  const { signed } = end;
  const completedAt = p(end.completedAt, "timestamptz");
  const errorMessage = p(end.errorMessage, "text");
  const context: RecordContext = { status: end.status, errorMessage: end.errorMessage, completedAt: end.completedAt };
  const checkpoint = signed === null ? "" : `checkpoint as (\n${checkpointInsert(p, signed.checkpoint)}\n),\n`;
  const logEntry = signed === null ? "" : `log_entry as (\n${pendingEntryInsert(p, signed.logEntry)}\n),\n`;
  const sql = `with ${endRunUpdate({
    status: p(end.status, "text"),
    runId: p(end.runId, "text"),
    epoch: p(end.epoch, "int"),
    errorMessage,
    terminationReason: p(end.terminationReason, "text"),
    completedAt,
    durationMs: p(end.durationMs, "float8"),
    rootHash: p(signed?.rootHash ?? null, "text"),
  })},
trace as (
  update aos_traces t
  set status = ${p(end.traceStatus, "text")},
    completed_at = ${completedAt},
    root_hash = ${p(signed?.rootHash ?? null, "text")},
    merkle_root = ${p(signed?.merkleRoot ?? null, "text")},
    tree_size = ${p(signed?.treeSize ?? null, "int")},
    run_end_jcs = ${p(signed?.runEnd ?? null, "bytea")},
    metadata = t.metadata || case when ${errorMessage} is null then '{}'::jsonb
      else jsonb_build_object('error', left(${errorMessage}, 200)) end
  from the_run r
  where t.run_id = r.id and t.status = 'running'
  returning 1
),
${checkpoint}${logEntry}${runRecordCtes(params, context, end.records)}
select count(*)::int as ended from the_run`;
  const { rows } = await db.query<{ ended: number }>(sql, params.values);
  return rows[0]?.ended === 1;
}

function checkpointInsert(p: (value: unknown, type: string) => string, checkpoint: StoredCheckpoint): string {
  return `  insert into aos_checkpoints (trace_id, run_id, tenant_id, origin, tree_size, merkle_root, chain_head, key_name,
    key_id, note)
  select ${p(checkpoint.traceId, "text")}, r.id, r.tenant_id, ${p(checkpoint.origin, "text")}, ${p(checkpoint.treeSize, "int")},
    ${p(checkpoint.merkleRoot, "text")}, ${p(checkpoint.chainHead, "text")}, ${p(checkpoint.keyName, "text")},
    ${p(checkpoint.keyId, "text")}, ${p(checkpoint.note, "text")}
  from the_run r
  returning 1`;
}
