import type { Trace, TraceFormatName, TraceStatus } from "../../glossary.js";
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
  schema_version: TraceFormatName;
  header_jcs: Buffer | null;
  plan_jcs: Buffer | null;
  run_end_jcs: Buffer | null;
  attestation: string | null;
}

const TRACE_COLUMNS = `trace_id, run_id, tenant_id, agent_id, plan_hash, status, root_hash, merkle_root, tree_size,
  started_at, completed_at, created_at, metadata, schema_version, header_jcs, plan_jcs, run_end_jcs, attestation`;

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
    format: row.schema_version,
    stored:
      row.header_jcs === null || row.plan_jcs === null
        ? null
        : { header: row.header_jcs, plan: row.plan_jcs, runEnd: row.run_end_jcs, attestation: row.attestation },
  };
}

export interface NewTrace {
  traceId: string;
  runId: string;
  tenantId: string;
  agentId: string;
  planHash: string;
  createdAt: Date;
  /** The trace header's and the plan's canonical bytes, and the header's attestation (format v2). */
  header: Buffer;
  plan: Buffer;
  attestation: string;
}

/** The trace header, written with its run, so a run is never claimable without somewhere to record its steps. */
export async function insertTrace(db: Queryable, trace: NewTrace): Promise<void> {
  await db.query(
    `insert into aos_traces (trace_id, run_id, correlation_id, tenant_id, agent_id, plan_hash, started_at, created_at,
  schema_version, header_jcs, plan_jcs, attestation)
values ($1::text, $2::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz, $6::timestamptz,
  'aos-trace-v2', $7::bytea, $8::bytea, $9::text)`,
    [trace.traceId, trace.runId, trace.tenantId, trace.agentId, trace.planHash, trace.createdAt, trace.header, trace.plan, trace.attestation],
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
