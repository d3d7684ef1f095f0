import { type Run, traceIdFor } from "../../glossary.js";
import type { RunRecords } from "../../worker/run-records.js";
import type { Queryable } from "../database.js";

export interface RecordContext {
  run: Run;
  status: string;
  errorMessage: string | null;
  completedAt: Date;
}

/** Writes a terminal run's records; call inside the transaction that makes the run terminal. */
export async function insertRunRecords(db: Queryable, context: RecordContext, records: RunRecords): Promise<void> {
  const { run } = context;
  const { incident, evidence } = records;
  await db.query(
    `insert into incidents (id, tenant_id, source_run_id, outcome, title, severity, status, category, trigger_type,
  error_code, error_message, affected_agent_id, started_at)
values ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
  $10::text, $11::text, $12::text, $13::timestamptz)`,
    [
      incident.id,
      run.tenantId,
      run.id,
      incident.outcome,
      incident.title,
      incident.severity,
      incident.status,
      incident.category,
      incident.triggerType,
      incident.errorCode,
      incident.errorMessage,
      run.agentId,
      run.startedAt ?? run.createdAt,
    ],
  );
  await db.query(
    `insert into prevention_records (id, tenant_id, run_id, kind, policy_id, pattern_id, outcome, step_seq, reason,
  policy_hash, signature_match_confidence)
select r.id, $1::text, $2::text, r.kind, r.policy_id, r.pattern_id, r.outcome, r.step_seq, r.reason, r.policy_hash,
  r.confidence
from jsonb_to_recordset($3::jsonb) as r(id text, kind text, policy_id text, pattern_id text, outcome text,
  step_seq int, reason text, policy_hash text, confidence float8)`,
    [
      run.tenantId,
      run.id,
      JSON.stringify(
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
      ),
    ],
  );
  await db.query(
    `insert into integrity_evidence (id, tenant_id, run_id, expected_artifacts, observed_artifacts, missing_artifacts,
  missing_reasons, integrity_score, integrity_status)
values ($1::text, $2::text, $3::text, $4::text[], $5::text[], $6::text[], $7::jsonb, $8::float8, $9::text)`,
    [
      evidence.id,
      run.tenantId,
      run.id,
      evidence.expected,
      evidence.observed,
      evidence.missing,
      JSON.stringify(evidence.missingReasons),
      evidence.score,
      evidence.status,
    ],
  );
  await db.query(
    `insert into provenance (id, tenant_id, run_id, agent_id, goal, status, plan_json, error_message, attempts,
  cost_cents, root_hash, started_at, completed_at, duration_ms)
select $1::text, $2::text, r.id, r.agent_id, r.goal, $3::text, r.plan_json, $4::text, r.attempts, r.cost_cents, $5::text,
  r.started_at, $6::timestamptz, extract(epoch from ($6::timestamptz - coalesce(r.started_at, r.created_at))) * 1000
from runs r
where r.id = $7::text`,
    [records.provenance.id, run.tenantId, context.status, context.errorMessage, records.provenance.rootHash, context.completedAt, run.id],
  );
  if (records.llm !== undefined) {
    const llm = records.llm;
    await db.query(
      `insert into llm_run_records (id, tenant_id, run_id, trace_id, provider, model, prompt_hash, response_hash,
  input_tokens, output_tokens, cost_cents, cost_microcents, call_count, price_table_version, execution_status, source,
  started_at, completed_at)
values ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::int, $10::int, $11::bigint,
  $12::bigint, $13::int, $14::text, $15::text, 'WORKER', $16::timestamptz, $17::timestamptz)`,
      [
        llm.id,
        run.tenantId,
        run.id,
        traceIdFor(run.id),
        llm.provider,
        llm.model,
        llm.promptHash,
        llm.responseHash,
        llm.inputTokens,
        llm.outputTokens,
        llm.costCents,
        llm.costMicrocents,
        llm.callCount,
        llm.priceTableVersion,
        llm.status,
        llm.startedAt,
        llm.completedAt,
      ],
    );
  }
  if (records.memories.length > 0) {
    await db.query(
      `insert into memories (id, tenant_id, agent_id, run_id, memory_type, text, meta)
select m.id, $1::text, $2::text, $3::text, 'skill_result', m.text, m.meta
from jsonb_to_recordset($4::jsonb) as m(id text, text text, meta jsonb)`,
      [run.tenantId, run.agentId, run.id, JSON.stringify(records.memories)],
    );
  }
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
