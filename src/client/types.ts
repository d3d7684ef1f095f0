// The API's JSON, as the client sees it. Field names are the wire's (snake_case).

export type RunStatus = "queued" | "running" | "retry" | "pending_approval" | "succeeded" | "failed" | "halted" | "cancelled";

export interface AgentInput {
  name: string;
  budget_cents?: number;
  concurrent_runs_limit?: number;
  allowed_hosts?: string[];
}

export interface Agent {
  agent_id: string;
  tenant_id: string;
  name: string;
  status: string;
  is_default: boolean;
  budget_cents: number | null;
  spent_cents: number;
  concurrent_runs_limit: number;
  allowed_hosts: string[];
  created_at: string;
}

export interface PlanStepInput {
  step_id: string;
  skill: string;
  params?: Record<string, unknown>;
  on_error?: "abort" | "continue";
  retry_count?: number;
  output_key?: string;
  depends_on?: string[];
  description?: string;
}

export interface CreateRunInput {
  goal: string;
  agent_id?: string;
  plan?: { steps: PlanStepInput[] };
  origin_system_id?: string;
  actor_type?: "HUMAN" | "SYSTEM" | "SERVICE";
  actor_id?: string;
}

export interface AcceptedRun {
  run_id: string;
  status: RunStatus;
}

/** One recorded attempt with its outcome in the one shape every skill returns. */
export interface Step {
  seq: number;
  step_index: number;
  step_id: string;
  attempt: number;
  skill: string;
  status: "succeeded" | "failed" | "blocked" | "started" | "interrupted";
  outcome_code: string;
  duration_ms: number;
  error?: string;
  outcome: {
    status: "ok" | "error";
    result: unknown;
    error?: { code: string; message: string; category: string; retryable: boolean; details?: Record<string, unknown> };
    side_effects: { cost_cents: number; tokens: number };
  } | null;
  pruned_at?: string;
}

/** The verdict on a run's stored trace, shown with the run (docs/proofs.md). */
export interface RunProofSummary {
  format: "aos-trace-v1" | "aos-trace-v2";
  verification_status: "VERIFIED" | "TAMPERED" | "INCOMPLETE" | "UNSUPPORTED" | "UNTRUSTED_KEY";
  failure_reason: string | null;
  first_bad_seq: number | null;
  /** What failed: a column (`runs.status`) or a part of the trace (`steps[1].params`). */
  field: string | null;
  pruned_steps: number;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  not_covered: string | null;
}

/**
 * A run. A finished run's facts (status, goal, error, costs, attempts, times) are its proven run-end's
 * (`facts_from: "run-end"`); `proof` says whether they and the steps verify, and names what does not.
 */
export interface Run {
  run_id: string;
  tenant_id: string;
  agent_id: string;
  origin_system_id: string;
  goal: string;
  status: RunStatus;
  attempts: number;
  error_message: string | null;
  cost_cents: number;
  plan: unknown;
  steps: Step[];
  incident: { id: string; outcome: string; severity: string; category: string } | null;
  integrity_evidence: { status: string; score: number } | null;
  llm_record: Record<string, unknown> | null;
  trace_id: string | null;
  trace_status: string | null;
  root_hash: string | null;
  /** Null only when the row holds a time past what JavaScript can represent (a database writer's edit). */
  created_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  termination_reason: string | null;
  tokens: number;
  facts_from: "run-end" | "row";
  proof: RunProofSummary | null;
}

export interface RunSummary {
  run_id: string;
  agent_id: string;
  goal: string;
  status: RunStatus;
  attempts: number;
  cost_cents: number;
  error_message: string | null;
  /** Null only when the row holds a time past what JavaScript can represent (a database writer's edit). */
  created_at: string | null;
  completed_at: string | null;
}

export interface Incident {
  id: string;
  run_id: string;
  outcome: string;
  severity: string;
  status: string;
  category: string;
  title: string;
  error_code: string | null;
  error_message: string | null;
  /** Null only when the row holds a time past what JavaScript can represent (a database writer's edit). */
  created_at: string | null;
}

export interface VerificationKeys {
  signing_key: string;
  verification_keys: string[];
}

export interface SimulateOptions {
  agent_id?: string;
  budget_cents?: number;
}

/** `aos simulate`'s report; see docs/runtime.md. */
export interface SimulationReport {
  feasible: boolean;
  status: string;
  halt: { step_id: string; reason: string } | null;
  estimated_cost_cents: number;
  estimated_tokens: number;
  estimated_duration_ms: number;
  budget_remaining_cents: number | null;
  budget_sufficient: boolean;
  step_estimates: Record<string, unknown>[];
  permission_gaps: Record<string, unknown>[];
  risks: Record<string, unknown>[];
  warnings: string[];
  [field: string]: unknown;
}

export type QueryType = "remaining_budget" | "allowed_skills" | "last_step_outcome" | "what_did_i_try_already";

export interface QueryParams {
  agent_id?: string;
  run_id?: string;
  goal?: string;
  limit?: number;
}

export interface QueryAnswer {
  query_type: QueryType;
  tenant_id: string;
  agent_id: string | null;
  run_id: string | null;
  answer: unknown;
}

export interface Capabilities {
  tenant_id: string;
  agent: Record<string, unknown>;
  policy: Record<string, unknown>;
  budget: Record<string, unknown>;
  skills: { name: string; available: boolean; configured: boolean; requires_approval: boolean; missing_settings: string[]; [field: string]: unknown }[];
}

export interface SkillSummary {
  name: string;
  version: string;
  description: string;
}

export interface SkillContract extends SkillSummary {
  determinism: string;
  side_effects: string;
  input_schema: unknown;
  output: Record<string, string>;
  limits: Record<string, string | number>;
  failure_codes: string[];
  failures: Record<string, unknown>[];
}
