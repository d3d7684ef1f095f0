import { z } from "zod";
import { RUN_STATUSES, STEP_STATUSES, TERMINAL_RUN_STATUSES } from "../glossary.js";
import { PROOF_STATUSES } from "../trace/verdict.js";

// The response bodies of the run, proof and record routes, naming every field the views send (src/views/,
// src/services/proofs.ts). Objects are closed in the spec (additionalProperties: false), so a field added to a view
// without its schema fails the contract test. Each carries an id and becomes a component of the OpenAPI document.

const time = (what: string) => z.string().describe(`${what} (ISO 8601, UTC)`);
const nullableTime = (what: string) => z.string().nullable().describe(`${what} (ISO 8601, UTC); null when not known`);
const TRACE_FORMATS = ["aos-trace-v1", "aos-trace-v2"] as const;

const runStatus = z.enum(RUN_STATUSES).meta({ id: "RunStatus" });

export const acceptedRun = z.object({ run_id: z.string(), status: runStatus }).meta({ id: "AcceptedRun" });

export const cancelOutcome = z
  .object({ run_id: z.string(), outcome: z.enum(["cancelled", "requested"]).describe("cancelled at once, or requested of the running worker") })
  .meta({ id: "CancelOutcome" });

const stepError = z
  .object({ code: z.string(), message: z.string(), category: z.string(), retryable: z.boolean(), details: z.record(z.string(), z.unknown()).optional() })
  .meta({ id: "StepError" });

export const step = z
  .object({
    seq: z.int(),
    step_index: z.int(),
    step_id: z.string(),
    attempt: z.int(),
    skill: z.string(),
    status: z.enum(STEP_STATUSES),
    outcome_code: z.string(),
    duration_ms: z.number(),
    error: z.string().optional().describe("the failure's message, when the attempt failed"),
    outcome: z
      .object({
        status: z.enum(["ok", "error"]),
        result: z.unknown().describe("the skill's output, as it returned it"),
        error: stepError.optional(),
        side_effects: z.object({ cost_cents: z.number(), tokens: z.number() }),
      })
      .nullable()
      .describe("null for a `started` intent row"),
    pruned_at: time("when `aos prune` removed the payload").optional(),
  })
  .meta({ id: "Step", description: "One recorded attempt, with its outcome in the one shape every skill returns" });

const runProofSummary = z
  .object({
    format: z.enum(TRACE_FORMATS),
    verification_status: z.enum(PROOF_STATUSES),
    failure_reason: z.string().nullable(),
    first_bad_seq: z.int().nullable(),
    field: z.string().nullable().describe("what failed: a column (`runs.status`) or a part of the trace (`steps[1].params`)"),
    pruned_steps: z.int(),
    merkle_root: z.string().nullable(),
    root_hash: z.string().nullable(),
    signature_valid: z.boolean().nullable(),
    not_covered: z.string().nullable(),
  })
  .meta({ id: "RunProofSummary" });

export const run = z
  .object({
    run_id: z.string(),
    tenant_id: z.string(),
    agent_id: z.string(),
    origin_system_id: z.string(),
    goal: z.string(),
    status: runStatus,
    termination_reason: z.string().nullable(),
    attempts: z.int(),
    error_message: z.string().nullable(),
    cost_cents: z.number(),
    tokens: z.number(),
    agent_budget: z.object({ budget_cents: z.number(), spent_cents: z.number(), remaining_cents: z.number() }).nullable().describe("null when the agent has no budget"),
    plan: z.unknown().describe("the plan as its trace stores it"),
    steps: z.array(step),
    incident: z.object({ id: z.string(), outcome: z.string(), severity: z.string(), category: z.string() }).nullable(),
    integrity_evidence: z.object({ status: z.string(), score: z.number() }).nullable(),
    llm_record: z
      .object({
        id: z.string(),
        provider: z.string(),
        model: z.string(),
        calls: z.int(),
        input_tokens: z.number(),
        output_tokens: z.number(),
        cost_cents: z.number(),
        cost_microcents: z.number(),
        status: z.string(),
      })
      .nullable(),
    trace_id: z.string().nullable(),
    trace_status: z.string().nullable(),
    root_hash: z.string().nullable(),
    created_at: nullableTime("created"),
    started_at: nullableTime("started"),
    completed_at: nullableTime("completed"),
    duration_ms: z.number().nullable(),
    facts_from: z.enum(["run-end", "row"]).describe("a finished run's facts come from its proven run-end"),
    proof: runProofSummary.nullable(),
  })
  .meta({ id: "Run", description: "A run with its steps; a finished run's facts from its proven run-end" });

export const runSummary = z
  .object({
    run_id: z.string(),
    agent_id: z.string(),
    goal: z.string(),
    status: runStatus,
    attempts: z.int(),
    cost_cents: z.number(),
    error_message: z.string().nullable(),
    created_at: nullableTime("created"),
    completed_at: nullableTime("completed"),
  })
  .meta({ id: "RunSummary", description: "A run as a list shows it: its row, as stored" });

export const incident = z
  .object({
    id: z.string(),
    run_id: z.string(),
    outcome: z.string(),
    severity: z.string(),
    status: z.string(),
    category: z.string(),
    title: z.string(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    created_at: nullableTime("created"),
  })
  .meta({ id: "Incident" });

export const evidence = z
  .object({
    id: z.string(),
    run_id: z.string(),
    integrity_status: z.string(),
    integrity_score: z.number(),
    expected_artifacts: z.array(z.string()),
    observed_artifacts: z.array(z.string()),
    missing_artifacts: z.array(z.string()),
    missing_reasons: z.record(z.string(), z.string()),
    verification_timestamp: nullableTime("verified"),
    policy_records: z.array(
      z.object({ kind: z.string(), policy_id: z.string(), outcome: z.string(), step_seq: z.int().nullable(), reason: z.string().nullable() }),
    ),
  })
  .meta({ id: "Evidence" });

const runFacts = z
  .object({
    run_id: z.string(),
    tenant_id: z.string(),
    agent_id: z.string(),
    origin_system_id: z.string(),
    actor_type: z.enum(["HUMAN", "SYSTEM", "SERVICE"]),
    actor_id: z.string().nullable(),
    parent_run_id: z.string().nullable(),
    goal: z.string(),
    plan_sha256: z.string(),
    created_at: time("created"),
    end: z
      .object({
        status: z.enum(TERMINAL_RUN_STATUSES),
        termination_reason: z.string(),
        error_message: z.string().nullable(),
        cost_cents: z.number(),
        tokens: z.number(),
        attempts: z.int(),
        started_at: z.string().nullable(),
        completed_at: z.string(),
        duration_ms: z.number().nullable(),
        step_count: z.int(),
      })
      .nullable()
      .describe("null until the run has ended"),
  })
  .meta({ id: "RunFacts", description: "The run's facts as its verified bytes state them (format v2)" });

const tenantLogVerdict = z
  .object({
    state: z.enum(["included", "pending"]).describe("pending: the run ended moments ago and awaits its tenant checkpoint"),
    index: z.int().nullable(),
    tree_size: z.int().nullable(),
    origin: z.string().nullable(),
    witnessed_by: z.array(z.string()).describe("witness keys whose cosignatures on the tenant checkpoint verified"),
    timestamp: z.string().nullable().describe("the time a trusted TSA's token gives the tenant checkpoint"),
  })
  .meta({ id: "TenantLogVerdict", description: "A finished run's place in its tenant's log (docs/proofs.md, \"The tenant log\")" });

export const runProof = z
  .object({
    run_id: z.string(),
    format: z.enum(TRACE_FORMATS).nullable(),
    verification_status: z.enum(PROOF_STATUSES),
    failure_reason: z.string().nullable(),
    first_bad_seq: z.int().nullable(),
    field: z.string().nullable(),
    chain_length: z.int(),
    step_count: z.int(),
    pruned_steps: z.int(),
    merkle_root: z.string().nullable(),
    root_hash: z.string().nullable(),
    signature_valid: z.boolean().nullable(),
    signed_by: z.array(z.string()),
    signing_keys: z.array(z.string()),
    not_covered: z.string().nullable(),
    run: runFacts.nullable(),
    tenant_log: tenantLogVerdict.nullable(),
    integrity_model: z.literal("HASH_CHAIN"),
    trace_count: z.int(),
    attestations_checked: z.boolean().describe("whether this host checked the write-time attestations"),
    checkpoint: z.string().nullable().describe("the signed checkpoint note, as stored"),
    verified_at: time("verified"),
    aos_traces: z.array(
      z.object({ trace_id: z.string(), run_id: z.string(), status: z.string(), step_count: z.int(), started_at: z.string().nullable(), completed_at: z.string().nullable() }),
    ),
    aos_trace_steps: z.array(
      z.object({ seq: z.int(), step_index: z.int(), attempt: z.int(), skill_name: z.string(), status: z.string(), duration_ms: z.number(), cost_cents: z.number() }),
    ),
  })
  .meta({ id: "RunProof", description: "A run verified from the stored rows and its signed checkpoint (docs/proofs.md)" });

const bundleV3 = z
  .object({
    format: z.literal("aos-proof-bundle/v3"),
    header: z.string().describe("the trace header's canonical JSON"),
    plan: z.string(),
    steps: z.array(
      z.object({
        header: z.string(),
        params: z.string().nullable(),
        outcome: z.string().nullable(),
        error: z.string().nullable(),
        leaf_hash: z.string(),
        chain_hash: z.string(),
      }),
    ),
    run_end: z.string().nullable(),
    root_hash: z.string().nullable(),
    checkpoint: z.string().nullable(),
    tenant_log: z
      .object({
        index: z.int(),
        entry: z.string().describe("the run's tenant-log entry (canonical JSON)"),
        inclusion_proof: z.array(z.string()),
        checkpoint: z.string().describe("the signed tenant checkpoint, with witnesses' cosignatures"),
        timestamp: z.string().nullable().describe("an RFC 3161 token over the checkpoint's body, base64"),
      })
      .nullable()
      .describe("null exactly while the run has not ended"),
  })
  .meta({ id: "ProofBundleV3" });

const v1StepFields = {
  seq: z.int(),
  step_index: z.int(),
  step_id: z.string(),
  attempt: z.int(),
  skill: z.string(),
  skill_version: z.string(),
  status: z.enum(STEP_STATUSES),
  outcome_code: z.string(),
  cost_cents: z.number(),
  tokens: z.number(),
  duration_ms: z.number(),
  started_at: z.string(),
  completed_at: z.string(),
  decision: z.object({ action: z.enum(["allow", "deny", "require_approval"]), reason: z.string(), policy_id: z.string(), policy_hash: z.string() }).nullable(),
  leaf_hash: z.string(),
  chain_hash: z.string(),
};

const bundleV1 = z
  .object({
    format: z.literal("aos-proof-bundle/v1"),
    run: z.object({ run_id: z.string(), tenant_id: z.string(), agent_id: z.string(), status: z.string(), finished: z.boolean(), plan_hash: z.string() }),
    trace: z.object({
      trace_id: z.string(),
      created_at: z.string(),
      plan_hash: z.string(),
      status: z.string(),
      root_hash: z.string().nullable(),
      merkle_root: z.string().nullable(),
      tree_size: z.int().nullable(),
    }),
    steps: z.array(
      z.union([
        z.object({ ...v1StepFields, params: z.record(z.string(), z.unknown()), outcome_data: z.unknown(), error: stepError.nullable() }),
        z.object({ ...v1StepFields, pruned: z.literal(true), pruned_at: z.string() }),
      ]),
    ),
    checkpoint: z.string().nullable(),
    verification_keys: z.array(z.string()),
  })
  .meta({ id: "ProofBundleV1", description: "The bundle of a run recorded before trace format v2" });

export const proofBundle = z.union([bundleV3, bundleV1]).meta({ id: "ProofBundle", description: "Verify it offline with `aos verify` or the SDK" });
