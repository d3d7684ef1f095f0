import { StatementParams } from "./statement-params.js";
import type { Queryable } from "../database.js";

/**
 * The records a terminal run leaves (upstream §1.3, §1.7–1.9, §5.4), built as plain rows by src/records/ and written
 * by the finalizing transaction: one incident, one policy-evaluation summary plus one row per non-allow decision, one
 * integrity-evidence row, one provenance row, a memory per succeeded step, and an LLM record when a model was called.
 */
export interface RunRecords {
  incident: IncidentRow;
  prevention: PreventionRow[];
  evidence: EvidenceRow;
  provenance: ProvenanceRow;
  memories: MemoryRow[];
  /** Present when the run called a model. */
  llm?: LlmRecordRow;
}

export interface LlmRecordRow {
  id: string;
  provider: string;
  model: string;
  promptHash: string;
  responseHash: string | null;
  inputTokens: number;
  outputTokens: number;
  costCents: number;
  costMicrocents: number;
  callCount: number;
  priceTableVersion: string | null;
  status: "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMEOUT";
  startedAt: Date;
  completedAt: Date;
}

export interface IncidentRow {
  id: string;
  outcome: "SUCCESS" | "FAILURE" | "BLOCKED" | "ABORTED";
  title: string;
  severity: "NONE" | "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
  status: "OPEN" | "CLOSED";
  category: string;
  triggerType: string;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface PreventionRow {
  id: string;
  kind: "run_summary" | "decision";
  policyId: string;
  patternId: string;
  outcome: "no_violation" | "advisory" | "blocked" | "not_applicable";
  stepSeq: number | null;
  reason: string | null;
  policyHash: string | null;
  confidence: number;
}

export interface EvidenceRow {
  id: string;
  expected: string[];
  observed: string[];
  missing: string[];
  missingReasons: Record<string, string>;
  score: number;
  status: "VALID" | "DEGRADED" | "FAILED";
}

export interface ProvenanceRow {
  id: string;
  rootHash: string | null;
}

export interface MemoryRow {
  id: string;
  text: string;
  meta: Record<string, unknown>;
}

export interface RecordContext {
  status: string;
  errorMessage: string | null;
  completedAt: Date;
}

/**
 * The CTEs that write a terminal run's records (incident, policy evaluations, integrity evidence, provenance,
 * memories, the LLM record), each selecting from a CTE named `the_run` that the caller defines with the run's
 * columns (id, tenant_id, agent_id, goal, plan_json, attempts, cost_cents, started_at, created_at). When `the_run`
 * is empty (a fence did not match), none of them writes anything. Part of one statement, so the records, and
 * whatever else that statement writes, commit together or not at all.
 */
export function runRecordCtes(params: StatementParams, context: RecordContext, records: RunRecords): string {
  const { incident, evidence } = records;
  const p = (value: unknown, type: string) => params.param(value, type);
  const prevention = JSON.stringify(
    records.prevention.map((row) => ({
      id: row.id,
      kind: row.kind,
      policy_id: row.policyId,
      pattern_id: row.patternId,
      outcome: row.outcome,
      step_seq: row.stepSeq,
      reason: row.reason,
      policy_hash: row.policyHash,
      confidence: row.confidence,
    })),
  );
  const llm = records.llm;
  return `incident as (
  insert into incidents (id, tenant_id, source_run_id, outcome, title, severity, status, category, trigger_type,
    error_code, error_message, affected_agent_id, started_at)
  select ${p(incident.id, "text")}, r.tenant_id, r.id, ${p(incident.outcome, "text")}, ${p(incident.title, "text")},
    ${p(incident.severity, "text")}, ${p(incident.status, "text")}, ${p(incident.category, "text")},
    ${p(incident.triggerType, "text")}, ${p(incident.errorCode, "text")}, ${p(incident.errorMessage, "text")},
    r.agent_id, coalesce(r.started_at, r.created_at)
  from the_run r
  returning 1
),
prevention as (
  insert into prevention_records (id, tenant_id, run_id, kind, policy_id, pattern_id, outcome, step_seq, reason,
    policy_hash, signature_match_confidence)
  select x.id, r.tenant_id, r.id, x.kind, x.policy_id, x.pattern_id, x.outcome, x.step_seq, x.reason, x.policy_hash,
    x.confidence
  from the_run r,
    jsonb_to_recordset(${p(prevention, "jsonb")}) as x(id text, kind text, policy_id text, pattern_id text,
      outcome text, step_seq int, reason text, policy_hash text, confidence float8)
  returning 1
),
evidence as (
  insert into integrity_evidence (id, tenant_id, run_id, expected_artifacts, observed_artifacts, missing_artifacts,
    missing_reasons, integrity_score, integrity_status)
  select ${p(evidence.id, "text")}, r.tenant_id, r.id, ${p(evidence.expected, "text[]")}, ${p(evidence.observed, "text[]")},
    ${p(evidence.missing, "text[]")}, ${p(JSON.stringify(evidence.missingReasons), "jsonb")}, ${p(evidence.score, "float8")},
    ${p(evidence.status, "text")}
  from the_run r
  returning 1
),
provenance as (
  insert into provenance (id, tenant_id, run_id, agent_id, goal, status, plan_json, error_message, attempts,
    cost_cents, root_hash, started_at, completed_at, duration_ms)
  select ${p(records.provenance.id, "text")}, r.tenant_id, r.id, r.agent_id, r.goal, ${p(context.status, "text")}, r.plan_json,
    ${p(context.errorMessage, "text")}, r.attempts, r.cost_cents, ${p(records.provenance.rootHash, "text")}, r.started_at,
    ${p(context.completedAt, "timestamptz")},
    extract(epoch from (${p(context.completedAt, "timestamptz")} - coalesce(r.started_at, r.created_at))) * 1000
  from the_run r
  returning 1
),
memories as (
  insert into memories (id, tenant_id, agent_id, run_id, memory_type, text, meta)
  select m.id, r.tenant_id, r.agent_id, r.id, 'skill_result', m.text, m.meta
  from the_run r, jsonb_to_recordset(${p(JSON.stringify(records.memories), "jsonb")}) as m(id text, text text, meta jsonb)
  returning 1
),
llm as (
  insert into llm_run_records (id, tenant_id, run_id, trace_id, provider, model, prompt_hash, response_hash,
    input_tokens, output_tokens, cost_cents, cost_microcents, call_count, price_table_version, execution_status, source,
    started_at, completed_at)
  select l.id, r.tenant_id, r.id, 'trace_' || r.id, l.provider, l.model, l.prompt_hash, l.response_hash, l.input_tokens,
    l.output_tokens, l.cost_cents, l.cost_microcents, l.call_count, l.price_table_version, l.status, 'WORKER',
    l.started_at, l.completed_at
  from the_run r,
    jsonb_to_recordset(${p(JSON.stringify(llm === undefined ? [] : [llmJson(llm)]), "jsonb")}) as l(id text, provider text,
      model text, prompt_hash text, response_hash text, input_tokens int, output_tokens int, cost_cents bigint,
      cost_microcents bigint, call_count int, price_table_version text, status text, started_at timestamptz,
      completed_at timestamptz)
  returning 1
)`;
}

function llmJson(llm: LlmRecordRow): Record<string, unknown> {
  return {
    id: llm.id,
    provider: llm.provider,
    model: llm.model,
    prompt_hash: llm.promptHash,
    response_hash: llm.responseHash,
    input_tokens: llm.inputTokens,
    output_tokens: llm.outputTokens,
    cost_cents: llm.costCents,
    cost_microcents: llm.costMicrocents,
    call_count: llm.callCount,
    price_table_version: llm.priceTableVersion,
    status: llm.status,
    started_at: llm.startedAt.toISOString(),
    completed_at: llm.completedAt.toISOString(),
  };
}

/** Writes the records of a run that already is terminal (its plan failed validation), in one statement. */
export async function insertRunRecords(db: Queryable, runId: string, context: RecordContext, records: RunRecords): Promise<void> {
  const params = new StatementParams();
  const sql = `with the_run as (
  select id, tenant_id, agent_id, goal, plan_json, attempts, cost_cents, started_at, created_at
  from runs
  where id = ${params.param(runId, "text")}
),
${runRecordCtes(params, context, records)}
select 1`;
  await db.query(sql, params.values);
}

export interface IncidentView {
  id: string;
  runId: string;
  outcome: string;
  title: string;
  severity: string;
  status: string;
  category: string;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
}

export async function listIncidents(db: Queryable, tenantId: string, limit: number, runId?: string): Promise<IncidentView[]> {
  const { rows } = await db.query<{
    id: string;
    source_run_id: string;
    outcome: string;
    title: string;
    severity: string;
    status: string;
    category: string;
    error_code: string | null;
    error_message: string | null;
    created_at: Date;
  }>(
    `select id, source_run_id, outcome, title, severity, status, category, error_code, error_message, created_at
from incidents
where tenant_id = $1::text and ($3::text is null or source_run_id = $3::text)
order by created_at desc, id
limit $2::int`,
    [tenantId, limit, runId ?? null],
  );
  return rows.map((row) => ({
    id: row.id,
    runId: row.source_run_id,
    outcome: row.outcome,
    title: row.title,
    severity: row.severity,
    status: row.status,
    category: row.category,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: row.created_at,
  }));
}

export interface EvidenceView {
  id: string;
  runId: string;
  expected: string[];
  observed: string[];
  missing: string[];
  missingReasons: Record<string, string>;
  score: number;
  status: string;
  verifiedAt: Date;
  policyRecords: { kind: string; policyId: string; outcome: string; stepSeq: number | null; reason: string | null }[];
}

export async function findEvidence(db: Queryable, tenantId: string, runId: string): Promise<EvidenceView | undefined> {
  const { rows } = await db.query<{
    id: string;
    run_id: string;
    expected_artifacts: string[];
    observed_artifacts: string[];
    missing_artifacts: string[];
    missing_reasons: Record<string, string>;
    integrity_score: number;
    integrity_status: string;
    verification_timestamp: Date;
    policy_records: { kind: string; policy_id: string; outcome: string; step_seq: number | null; reason: string | null }[];
  }>(
    `select e.id, e.run_id, e.expected_artifacts, e.observed_artifacts, e.missing_artifacts, e.missing_reasons,
  e.integrity_score, e.integrity_status, e.verification_timestamp,
  coalesce((select jsonb_agg(jsonb_build_object('kind', p.kind, 'policy_id', p.policy_id, 'outcome', p.outcome,
      'step_seq', p.step_seq, 'reason', p.reason) order by p.kind desc, p.step_seq)
    from prevention_records p where p.run_id = e.run_id and p.tenant_id = e.tenant_id), '[]') as policy_records
from integrity_evidence e
where e.tenant_id = $1::text and e.run_id = $2::text`,
    [tenantId, runId],
  );
  const row = rows[0];
  return (
    row && {
      id: row.id,
      runId: row.run_id,
      expected: row.expected_artifacts,
      observed: row.observed_artifacts,
      missing: row.missing_artifacts,
      missingReasons: row.missing_reasons,
      score: row.integrity_score,
      status: row.integrity_status,
      verifiedAt: row.verification_timestamp,
      policyRecords: row.policy_records.map((record) => ({
        kind: record.kind,
        policyId: record.policy_id,
        outcome: record.outcome,
        stepSeq: record.step_seq,
        reason: record.reason,
      })),
    }
  );
}

export interface LlmRecordView {
  id: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costCents: number;
  costMicrocents: number;
  callCount: number;
  status: string;
  promptHash: string | null;
  responseHash: string | null;
  priceTableVersion: string | null;
}

export async function findLlmRecord(db: Queryable, tenantId: string, runId: string): Promise<LlmRecordView | undefined> {
  const { rows } = await db.query<{
    id: string;
    provider: string;
    model: string;
    input_tokens: number;
    output_tokens: number;
    cost_cents: string;
    cost_microcents: string;
    call_count: number;
    execution_status: string;
    prompt_hash: string | null;
    response_hash: string | null;
    price_table_version: string | null;
  }>(
    `select id, provider, model, input_tokens, output_tokens, cost_cents, cost_microcents, call_count, execution_status,
  prompt_hash, response_hash, price_table_version
from llm_run_records
where tenant_id = $1::text and run_id = $2::text`,
    [tenantId, runId],
  );
  const row = rows[0];
  return (
    row && {
      id: row.id,
      provider: row.provider,
      model: row.model,
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      costCents: Number(row.cost_cents),
      costMicrocents: Number(row.cost_microcents),
      callCount: row.call_count,
      status: row.execution_status,
      promptHash: row.prompt_hash,
      responseHash: row.response_hash,
      priceTableVersion: row.price_table_version,
    }
  );
}
