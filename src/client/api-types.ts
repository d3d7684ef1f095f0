// Generated from /docs/openapi.json by scripts/client-types.ts: do not edit. The SDK's types (types.ts) are these.

export type AcceptedRun = {
  run_id: string;
  status: RunStatus;
};

export type Agent = {
  agent_id: string;
  tenant_id: string;
  name: string;
  status: "active" | "paused" | "disabled" | "maintenance";
  is_default: boolean;
  budget_cents: number | null;
  spent_cents: number;
  concurrent_runs_limit: number;
  allowed_hosts: string[];
  /** ISO 8601, UTC */
  created_at: string;
};

export type AgentChanges = {
  /** a new name, unique within the tenant; surrounding whitespace is trimmed */
  name?: string;
  /** the budget in whole cents; null removes it */
  budget_cents?: number | null;
  concurrent_runs_limit?: number;
  /** the whole list, replacing the agent's; [] lets its steps reach every host the egress floor lets through */
  allowed_hosts?: string[];
  /** hosts to add to the list (those already in it are kept once) */
  add_allowed_hosts?: string[];
  /** hosts to take out of the list; each must be in it, and the last one only goes with allowed_hosts: [] */
  remove_allowed_hosts?: string[];
};

export type AgentInput = {
  /** surrounding whitespace is trimmed */
  name: string;
  budget_cents?: number;
  concurrent_runs_limit?: number;
  /** the only hosts the agent's steps may reach (host names or addresses, optionally :port); it narrows the egress floor, never opens it */
  allowed_hosts?: string[];
};

export type AllowedSkillsAnswer = {
  allowed: string[];
  requires_approval: string[];
  not_configured: ({
    skill: string;
    missing_settings: string[];
  })[];
  denied: ({
    skill: string;
    reason: string;
  })[];
  policy: {
    id: string;
    hash: string;
  };
};

export type CancelOutcome = {
  run_id: string;
  /** cancelled at once, or requested of the running worker */
  outcome: "cancelled" | "requested";
};

export type Capabilities = {
  tenant_id: string;
  agent: {
    id: string | null;
    name: string;
    status: string;
    concurrent_runs_limit: number;
    allowed_hosts: string[];
  };
  policy: {
    id: string;
    hash: string;
    emergency_stop: boolean;
    caps: Record<string, number | null>;
    steps_per_minute: number | null;
    steps_remaining_this_minute: number | null;
  };
  budget: {
    agent_limit_cents: number | null;
    agent_spent_cents: number;
    agent_remaining_cents: number | null;
    tenant_day: string;
    tenant_daily_cap_cents: number | null;
    tenant_spent_today_cents: number;
    remaining_cents: number | null;
  };
  skills: ({
    name: string;
    version: string;
    description: string;
    available: boolean;
    unavailable_reason: string | null;
    requires_approval: boolean;
    configured: boolean;
    missing_settings: string[];
    determinism: string;
    side_effects: string;
    failure_codes: string[];
    history: {
      attempts: number;
      failures: number;
      success_rate: number | null;
      p50_ms: number | null;
    };
  })[];
};

export type CreateRunInput = {
  /** what the run should achieve; surrounding whitespace is trimmed */
  goal: string;
  /** default: the tenant's default agent */
  agent_id?: string;
  /** an explicit plan; without one, the planner plans the goal */
  plan?: {
    steps: Record<string, unknown>[];
    [field: string]: unknown;
  };
  /** who asked for the run (default api); surrounding whitespace is trimmed */
  origin_system_id?: string;
  /** default SYSTEM */
  actor_type?: "HUMAN" | "SYSTEM" | "SERVICE";
  /** the acting person, required with actor_type HUMAN */
  actor_id?: string;
};

export type DecisionInput = {
  /** who decides, as it is recorded; surrounding whitespace is trimmed */
  by: string;
};

export type Error = {
  error: {
    code: string;
    message: string;
    category: string;
    retryable: boolean;
    details: Record<string, unknown>;
  };
};

export type Evidence = {
  id: string;
  run_id: string;
  integrity_status: string;
  integrity_score: number;
  expected_artifacts: string[];
  observed_artifacts: string[];
  missing_artifacts: string[];
  missing_reasons: Record<string, string>;
  /** verified (ISO 8601, UTC); null when not known */
  verification_timestamp: string | null;
  policy_records: ({
    kind: string;
    policy_id: string;
    outcome: string;
    step_seq: number | null;
    reason: string | null;
  })[];
};

export type GoalInput = {
  /** what the run should achieve; surrounding whitespace is trimmed */
  goal: string;
  /** who asked for the run (default api); surrounding whitespace is trimmed */
  origin_system_id?: string;
  /** default SYSTEM */
  actor_type?: "HUMAN" | "SYSTEM" | "SERVICE";
  /** the acting person, required with actor_type HUMAN */
  actor_id?: string;
};

export type Health = {
  status: "ok";
};

export type Incident = {
  id: string;
  run_id: string;
  outcome: string;
  severity: string;
  status: string;
  category: string;
  title: string;
  error_code: string | null;
  error_message: string | null;
  /** created (ISO 8601, UTC); null when not known */
  created_at: string | null;
};

/** null when the agent has no step yet */
export type LastStepOutcomeAnswer = ({
  run_id: string;
  seq: number;
  step_id: string;
  attempt: number;
  skill: string;
  status: string;
  outcome_code: string;
  error_message: string | null;
  cost_cents: number;
  completed_at: string;
}) | null;

/** Verify it offline with `aos verify` or the SDK */
export type ProofBundle = ProofBundleV3 | ProofBundleV1;

/** The bundle of a run recorded before trace format v2 */
export type ProofBundleV1 = {
  format: "aos-proof-bundle/v1";
  run: {
    run_id: string;
    tenant_id: string;
    agent_id: string;
    status: string;
    finished: boolean;
    plan_hash: string;
  };
  trace: {
    trace_id: string;
    created_at: string;
    plan_hash: string;
    status: string;
    root_hash: string | null;
    merkle_root: string | null;
    tree_size: number | null;
  };
  steps: (({
    seq: number;
    step_index: number;
    step_id: string;
    attempt: number;
    skill: string;
    skill_version: string;
    status: "succeeded" | "failed" | "blocked" | "started" | "interrupted";
    outcome_code: string;
    cost_cents: number;
    tokens: number;
    duration_ms: number;
    started_at: string;
    completed_at: string;
    decision: ({
      action: "allow" | "deny" | "require_approval";
      reason: string;
      policy_id: string;
      policy_hash: string;
    }) | null;
    leaf_hash: string;
    chain_hash: string;
    params: Record<string, unknown>;
    outcome_data: unknown;
    error: StepError | null;
  }) | ({
    seq: number;
    step_index: number;
    step_id: string;
    attempt: number;
    skill: string;
    skill_version: string;
    status: "succeeded" | "failed" | "blocked" | "started" | "interrupted";
    outcome_code: string;
    cost_cents: number;
    tokens: number;
    duration_ms: number;
    started_at: string;
    completed_at: string;
    decision: ({
      action: "allow" | "deny" | "require_approval";
      reason: string;
      policy_id: string;
      policy_hash: string;
    }) | null;
    leaf_hash: string;
    chain_hash: string;
    pruned: true;
    pruned_at: string;
  }))[];
  checkpoint: string | null;
  verification_keys: string[];
};

export type ProofBundleV3 = {
  format: "aos-proof-bundle/v3";
  /** the trace header's canonical JSON */
  header: string;
  plan: string;
  steps: ({
    header: string;
    params: string | null;
    outcome: string | null;
    error: string | null;
    leaf_hash: string;
    chain_hash: string;
  })[];
  run_end: string | null;
  root_hash: string | null;
  checkpoint: string | null;
  /** null exactly while the run has not ended */
  tenant_log: ({
    index: number;
    /** the run's tenant-log entry (canonical JSON) */
    entry: string;
    inclusion_proof: string[];
    /** the signed tenant checkpoint, with witnesses' cosignatures */
    checkpoint: string;
    /** an RFC 3161 token over the checkpoint's body, base64 */
    timestamp: string | null;
  }) | null;
};

export type QueryAnswer = {
  query_type: "remaining_budget" | "allowed_skills" | "last_step_outcome" | "what_did_i_try_already";
  tenant_id: string;
  agent_id: string | null;
  run_id: string | null;
  /** shaped by query_type */
  answer: RemainingBudgetAnswer | AllowedSkillsAnswer | LastStepOutcomeAnswer | TriedCallsAnswer;
};

export type QueryInput = {
  query_type: "remaining_budget" | "allowed_skills" | "last_step_outcome" | "what_did_i_try_already";
  params?: {
    agent_id?: string;
    run_id?: string;
    goal?: string;
    limit?: number;
  };
};

export type Readiness = {
  status: "ready";
  database: "pglite" | "server";
};

export type RemainingBudgetAnswer = {
  remaining_cents: number | null;
  agent: {
    limit_cents: number | null;
    spent_cents: number;
    remaining_cents: number | null;
  };
  tenant_day: {
    day: string;
    cap_cents: number | null;
    spent_cents: number;
    remaining_cents: number | null;
  };
  run: ({
    cost_cents: number;
    cap_cents: number | null;
    remaining_cents: number | null;
  }) | null;
};

/** A run with its steps; a finished run's facts from its proven run-end */
export type Run = {
  run_id: string;
  tenant_id: string;
  agent_id: string;
  origin_system_id: string;
  goal: string;
  status: RunStatus;
  termination_reason: string | null;
  attempts: number;
  error_message: string | null;
  cost_cents: number;
  tokens: number;
  /** null when the agent has no budget */
  agent_budget: ({
    budget_cents: number;
    spent_cents: number;
    remaining_cents: number;
  }) | null;
  /** the plan as its trace stores it */
  plan: unknown;
  steps: Step[];
  incident: ({
    id: string;
    outcome: string;
    severity: string;
    category: string;
  }) | null;
  integrity_evidence: ({
    status: string;
    score: number;
  }) | null;
  llm_record: ({
    id: string;
    provider: string;
    model: string;
    calls: number;
    input_tokens: number;
    output_tokens: number;
    cost_cents: number;
    cost_microcents: number;
    status: string;
  }) | null;
  trace_id: string | null;
  trace_status: string | null;
  root_hash: string | null;
  /** created (ISO 8601, UTC); null when not known */
  created_at: string | null;
  /** started (ISO 8601, UTC); null when not known */
  started_at: string | null;
  /** completed (ISO 8601, UTC); null when not known */
  completed_at: string | null;
  duration_ms: number | null;
  /** a finished run's facts come from its proven run-end */
  facts_from: "run-end" | "row";
  proof: RunProofSummary | null;
};

/** The run's facts as its verified bytes state them (format v2) */
export type RunFacts = {
  run_id: string;
  tenant_id: string;
  agent_id: string;
  origin_system_id: string;
  actor_type: "HUMAN" | "SYSTEM" | "SERVICE";
  actor_id: string | null;
  parent_run_id: string | null;
  goal: string;
  plan_sha256: string;
  /** created (ISO 8601, UTC) */
  created_at: string;
  /** null until the run has ended */
  end: ({
    status: "succeeded" | "failed" | "halted" | "cancelled";
    termination_reason: string;
    error_message: string | null;
    cost_cents: number;
    tokens: number;
    attempts: number;
    started_at: string | null;
    completed_at: string;
    duration_ms: number | null;
    step_count: number;
  }) | null;
};

/** A run verified from the stored rows and its signed checkpoint (docs/proofs.md) */
export type RunProof = {
  run_id: string;
  format: ("aos-trace-v1" | "aos-trace-v2") | null;
  verification_status: "VERIFIED" | "TAMPERED" | "INCOMPLETE" | "UNSUPPORTED" | "UNTRUSTED_KEY" | "UNWITNESSED";
  failure_reason: string | null;
  first_bad_seq: number | null;
  field: string | null;
  chain_length: number;
  step_count: number;
  pruned_steps: number;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  signed_by: string[];
  signing_keys: string[];
  not_covered: string | null;
  run: RunFacts | null;
  tenant_log: TenantLogVerdict | null;
  integrity_model: "HASH_CHAIN";
  trace_count: number;
  /** whether this host checked the write-time attestations */
  attestations_checked: boolean;
  /** the signed checkpoint note, as stored */
  checkpoint: string | null;
  /** verified (ISO 8601, UTC) */
  verified_at: string;
  aos_traces: ({
    trace_id: string;
    run_id: string;
    status: string;
    step_count: number;
    started_at: string | null;
    completed_at: string | null;
  })[];
  aos_trace_steps: ({
    seq: number;
    step_index: number;
    attempt: number;
    skill_name: string;
    status: string;
    duration_ms: number;
    cost_cents: number;
  })[];
};

export type RunProofSummary = {
  format: "aos-trace-v1" | "aos-trace-v2";
  verification_status: "VERIFIED" | "TAMPERED" | "INCOMPLETE" | "UNSUPPORTED" | "UNTRUSTED_KEY" | "UNWITNESSED";
  failure_reason: string | null;
  first_bad_seq: number | null;
  /** what failed: a column (`runs.status`) or a part of the trace (`steps[1].params`) */
  field: string | null;
  pruned_steps: number;
  merkle_root: string | null;
  root_hash: string | null;
  signature_valid: boolean | null;
  not_covered: string | null;
};

export type RunStatus = "queued" | "running" | "retry" | "pending_approval" | "succeeded" | "failed" | "halted" | "cancelled";

/** A run as a list shows it: its row, as stored */
export type RunSummary = {
  run_id: string;
  agent_id: string;
  goal: string;
  status: RunStatus;
  attempts: number;
  cost_cents: number;
  error_message: string | null;
  /** created (ISO 8601, UTC); null when not known */
  created_at: string | null;
  /** completed (ISO 8601, UTC); null when not known */
  completed_at: string | null;
};

export type SimulateInput = {
  plan: {
    steps: Record<string, unknown>[];
    [field: string]: unknown;
  };
  agent_id?: string;
  /** what if the agent had this much budget left */
  budget_cents?: number;
};

/** A dry run of a plan: nothing is written and no skill is executed (docs/runtime.md) */
export type SimulationReport = {
  feasible: boolean;
  status: "feasible" | "needs_approval" | "plan_invalid" | "policy_blocked" | "budget_insufficient" | "not_configured";
  /** why the run would stop early; null when it would not */
  halt: ({
    step_id: string;
    reason: string;
  }) | null;
  estimated_cost_cents: number;
  estimated_tokens: number;
  estimated_duration_ms: number;
  budget: {
    source: "flag" | "agent" | "none";
    agent_remaining_cents: number | null;
    tenant_day_remaining_cents: number | null;
  };
  budget_remaining_cents: number | null;
  budget_sufficient: boolean;
  policy: {
    id: string;
    hash: string;
  };
  plan_issues: ({
    code: string;
    path: string;
    message: string;
  })[];
  permission_gaps: ({
    step_id: string;
    skill: string;
    policy_id: string;
    reason: string;
  })[];
  approvals_required: ({
    step_id: string;
    skill: string;
  })[];
  step_estimates: ({
    step_id: string;
    skill: string;
    skill_version: string | null;
    outcome: "would_run" | "needs_approval" | "blocked" | "over_budget" | "would_fail" | "not_reached" | "invalid";
    estimated_cost_cents: number | null;
    estimated_tokens: number | null;
    estimated_latency_ms: number | null;
    observed_p50_ms: number | null;
    side_effects: string | null;
    decision: {
      action: string;
      policy_id: string;
      reason: string;
    };
    missing_settings: string[];
    retries: number;
  })[];
  risks: ({
    step_id: string;
    skill: string;
    code: string;
    category: string;
    retryable: boolean;
    httpStatus: number;
    suggestion: string;
    recovery: "RETRY_EXPONENTIAL" | "ABORT" | "ESCALATE" | "MANUAL_INTERVENTION";
    severity: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
    observed_failures: number;
    observed_attempts: number;
  })[];
  warnings: string[];
};

export type SkillContract = {
  name: string;
  version: string;
  description: string;
  determinism: string;
  side_effects: string;
  /** the skill's parameters as JSON Schema */
  input_schema: Record<string, unknown>;
  output: Record<string, string>;
  limits: Record<string, string | number>;
  failure_codes: string[];
  failures: ({
    code: string;
    category: string;
    retryable: boolean;
    httpStatus: number;
    suggestion: string;
    recovery: "RETRY_EXPONENTIAL" | "ABORT" | "ESCALATE" | "MANUAL_INTERVENTION";
    severity: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
  })[];
};

export type SkillSummary = {
  name: string;
  version: string;
  description: string;
};

/** One recorded attempt, with its outcome in the one shape every skill returns */
export type Step = {
  seq: number;
  step_index: number;
  step_id: string;
  attempt: number;
  skill: string;
  status: "succeeded" | "failed" | "blocked" | "started" | "interrupted";
  outcome_code: string;
  duration_ms: number;
  /** the failure's message, when the attempt failed */
  error?: string;
  /** null for a `started` intent row */
  outcome: ({
    status: "ok" | "error";
    /** the skill's output, as it returned it */
    result: unknown;
    error?: StepError;
    side_effects: {
      cost_cents: number;
      tokens: number;
    };
  }) | null;
  /** when `aos prune` removed the payload (ISO 8601, UTC) */
  pruned_at?: string;
};

export type StepError = {
  code: string;
  message: string;
  category: string;
  retryable: boolean;
  details?: Record<string, unknown>;
};

/** A finished run's place in its tenant's log (docs/proofs.md, "The tenant log") */
export type TenantLogVerdict = {
  /** pending: the run ended moments ago and awaits its tenant checkpoint */
  state: "included" | "pending";
  index: number | null;
  tree_size: number | null;
  origin: string | null;
  /** witness keys whose cosignatures on the tenant checkpoint verified */
  witnessed_by: string[];
  /** the time a trusted TSA's token gives the tenant checkpoint */
  timestamp: string | null;
};

export type TriedCallsAnswer = ({
  skill: string;
  params: unknown;
  attempts: number;
  runs: number;
  succeeded: number;
  failed: number;
  blocked: number;
  last_status: string;
  last_outcome_code: string;
  last_error_message: string | null;
  last_at: string;
})[];

export type VerificationKeys = {
  /** C2SP vkey */
  signing_key: string;
  /** the signing key's first, then retired ones */
  verification_keys: string[];
};
