import type { Trace, TraceStatus } from "../../glossary.js";
import type { Queryable } from "../database.js";

interface TraceRow {
  trace_id: string;
  run_id: string;
  tenant_id: string;
  agent_id: string;
  plan_hash: string;
  status: TraceStatus;
  root_hash: string | null;
  merkle_root: string | null;
  tree_size: number | null;
  started_at: Date;
  completed_at: Date | null;
  created_at: Date;
  metadata: Record<string, unknown>;
}

const TRACE_COLUMNS = `trace_id, run_id, tenant_id, agent_id, plan_hash, status, root_hash, merkle_root, tree_size,
  started_at, completed_at, created_at, metadata`;

function toTrace(row: TraceRow): Trace {
  return {
    traceId: row.trace_id,
    runId: row.run_id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    planHash: row.plan_hash,
    status: row.status,
    rootHash: row.root_hash,
    merkleRoot: row.merkle_root,
    treeSize: row.tree_size,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    createdAt: row.created_at,
    metadata: row.metadata,
  };
}

export interface NewTrace {
  traceId: string;
  runId: string;
  tenantId: string;
  agentId: string;
  planHash: string;
  createdAt: Date;
}

/** The trace header, written with its run, so a run is never claimable without somewhere to record its steps. */
export async function insertTrace(db: Queryable, trace: NewTrace): Promise<void> {
  await db.query(
    `insert into aos_traces (trace_id, run_id, correlation_id, tenant_id, agent_id, plan_hash, started_at, created_at)
values ($1::text, $2::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz, $6::timestamptz)`,
    [trace.traceId, trace.runId, trace.tenantId, trace.agentId, trace.planHash, trace.createdAt],
  );
}

export async function findTraceForRun(db: Queryable, tenantId: string, runId: string): Promise<Trace | undefined> {
  const { rows } = await db.query<TraceRow>(
    `select ${TRACE_COLUMNS}
from aos_traces
where tenant_id = $1::text and run_id = $2::text`,
    [tenantId, runId],
  );
  return rows[0] && toTrace(rows[0]);
}
