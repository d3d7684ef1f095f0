import type { RunRecords } from "../../worker/run-records.js";
import type { Queryable } from "../database.js";
import type { StoredCheckpoint } from "./checkpoints.js";
import { type RecordContext, runRecordCtes, StatementParams } from "./run-records.js";

export interface RunEnd {
  runId: string;
  epoch: number;
  status: "succeeded" | "failed" | "halted" | "cancelled";
  errorMessage: string | null;
  terminationReason: string;
  completedAt: Date;
  trace: {
    status: "completed" | "failed" | "aborted";
    rootHash: string;
    merkleRoot: string;
    treeSize: number;
    metadata: Record<string, unknown>;
  };
  checkpoint: StoredCheckpoint;
  records: RunRecords;
}

/**
 * Ends a run in ONE statement: its terminal status (fenced by the holder's epoch), its trace's completion with the
 * finalization hashes (written once: the trace trigger refuses a second write), the signed checkpoint, and the
 * run's records. Every write selects from the fenced update of the run, so a worker that lost the run writes
 * nothing at all; one statement commits as one, so no terminal run lacks its trace completion, checkpoint or
 * records, and a record that cannot be written fails the whole of it. Returns false when the fence did not match.
 */
export async function endRunWithRecords(db: Queryable, end: RunEnd): Promise<boolean> {
  const params = new StatementParams();
  const p = (value: unknown, type: string) => params.param(value, type);
  const { trace, checkpoint } = end;
  const completedAt = p(end.completedAt, "timestamptz");
  const context: RecordContext = { status: end.status, errorMessage: end.errorMessage, completedAt: end.completedAt };
  const sql = `with the_run as (
  update runs
  set status = ${p(end.status, "text")},
    error_message = ${p(end.errorMessage, "text")},
    termination_reason = ${p(end.terminationReason, "text")},
    completed_at = ${completedAt},
    duration_ms = extract(epoch from (${completedAt} - started_at)) * 1000,
    worker_id = null,
    lease_expires_at = null
  where id = ${p(end.runId, "text")} and epoch = ${p(end.epoch, "int")} and status = 'running'
  returning id, tenant_id, agent_id, goal, plan_json, attempts, cost_cents, started_at, created_at
),
trace as (
  update aos_traces t
  set status = ${p(trace.status, "text")},
    completed_at = ${completedAt},
    root_hash = ${p(trace.rootHash, "text")},
    merkle_root = ${p(trace.merkleRoot, "text")},
    tree_size = ${p(trace.treeSize, "int")},
    metadata = t.metadata || ${p(JSON.stringify(trace.metadata), "jsonb")}
  from the_run r
  where t.run_id = r.id and t.status = 'running'
  returning 1
),
checkpoint as (
  insert into aos_checkpoints (trace_id, run_id, tenant_id, origin, tree_size, merkle_root, chain_head, key_name,
    key_id, note)
  select ${p(checkpoint.traceId, "text")}, r.id, r.tenant_id, ${p(checkpoint.origin, "text")}, ${p(checkpoint.treeSize, "int")},
    ${p(checkpoint.merkleRoot, "text")}, ${p(checkpoint.chainHead, "text")}, ${p(checkpoint.keyName, "text")},
    ${p(checkpoint.keyId, "text")}, ${p(checkpoint.note, "text")}
  from the_run r
  returning 1
),
${runRecordCtes(params, context, end.records)}
select count(*)::int as ended from the_run`;
  const { rows } = await db.query<{ ended: number }>(sql, params.values);
  return rows[0]?.ended === 1;
}
