// The domain's words as types. ARCHITECTURE.md's glossary is the source; code uses no synonyms.

/** Every status a run can have. A run is never claimable before its plan is stored. */
export const RUN_STATUSES = [
  "queued",
  "running",
  "retry",
  "pending_approval",
  "succeeded",
  "failed",
  "halted",
  "cancelled",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The statuses a run ends in: nothing executes it again. */
export const TERMINAL_RUN_STATUSES = ["succeeded", "failed", "halted", "cancelled"] as const satisfies readonly RunStatus[];
export type TerminalRunStatus = (typeof TERMINAL_RUN_STATUSES)[number];

/**
 * The statuses after which nobody executes a run without someone acting on it: every terminal one, plus a run parked
 * for a person's approval. What `aos run` waits for, and the SDK's `waitForRun` by default.
 */
export const SETTLED_RUN_STATUSES = [...TERMINAL_RUN_STATUSES, "pending_approval"] as const satisfies readonly RunStatus[];

export function isTerminal(status: RunStatus): boolean {
  return (TERMINAL_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

export function isSettled(status: RunStatus): boolean {
  return (SETTLED_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

/**
 * Why a run ended, stored as `runs.termination_reason` and proven in its run-end. `tampered`: a worker found the
 * trace failing its integrity check (docs/proofs.md) and ended the run without signing anything.
 */
export type TerminationReason =
  | "completed"
  | "step_failed"
  | "plan_invalid"
  | "policy_block"
  | "budget_exhausted"
  | "user_abort"
  | "system_failure"
  | "tampered";

/** How a run ends: its terminal status, error message and termination reason. */
export interface RunEnding {
  status: TerminalRunStatus;
  errorMessage: string | null;
  terminationReason: TerminationReason;
}

/** A trace is `running` until its run ends; every terminal run path completes it. */
export type TraceStatus = "running" | "completed" | "failed" | "aborted";

export const TRACE_STATUS_FOR_RUN: Readonly<Record<TerminalRunStatus, Exclude<TraceStatus, "running">>> = {
  succeeded: "completed",
  failed: "failed",
  halted: "aborted",
  cancelled: "aborted",
};

/** The status of one trace step (one attempt of one step); `blocked`: the policy engine denied it, so it never ran. */
/**
 * `started` is the intent row of a skill with external side effects, written before it calls out; `interrupted` is
 * recorded for such an attempt when its worker died before recording the outcome.
 */
export const STEP_STATUSES = ["succeeded", "failed", "blocked", "started", "interrupted"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export type OnError = "abort" | "continue";

export type ActorType = "HUMAN" | "SYSTEM" | "SERVICE";

/** One step of a plan, as stored in `runs.plan_json`. */
export interface PlanStep {
  step_id: string;
  skill: string;
  params: Record<string, unknown>;
  on_error: OnError;
  retry_count: number;
  output_key?: string | undefined;
  depends_on: string[];
  description?: string | undefined;
}

/** Who made a plan: the stub planner, the caller (`--plan`), or a model through the LLM planner. */
export type PlannerName = "stub" | "explicit" | "anthropic" | "openai";

/**
 * What planning with a model cost, stored in the plan and so covered by its hash in the trace header. Integers and
 * strings only, so the plan's canonical JSON (and its hash) is the same wherever it is recomputed.
 */
export interface PlannerUsage {
  provider: "anthropic" | "openai";
  model: string;
  /** Requests sent: 1, or 2 when the first answer needed the repair attempt. A request that failed counts too. */
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_microcents: number;
  /** What the agent was charged: cost_microcents rounded up to a whole cent. */
  cost_cents: number;
  price_table_version: string;
  /** sha256 of the canonical request, or of the requests' hashes joined when there were two. */
  prompt_hash: string;
  /** Likewise for the answers' texts; null when no request was answered. */
  response_hash: string | null;
}

export interface Plan {
  plan_id: string;
  planner: PlannerName;
  steps: PlanStep[];
  /** A model's explanation of its plan, cut to a bounded length. */
  reasoning?: string | undefined;
  /** Present when a model made the plan. */
  planner_usage?: PlannerUsage | undefined;
}

export interface Agent {
  id: string;
  tenantId: string;
  name: string;
  status: "active" | "paused" | "disabled" | "maintenance";
  isDefault: boolean;
  budgetCents: number | null;
  spentCents: number;
  concurrentRunsLimit: number;
  rateLimitRpm: number;
  allowedHosts: string[];
  createdAt: Date;
}

export interface Run {
  id: string;
  tenantId: string;
  agentId: string;
  goal: string;
  status: RunStatus;
  attempts: number;
  errorMessage: string | null;
  terminationReason: TerminationReason | null;
  plan: Plan | null;
  originSystemId: string;
  actorType: ActorType;
  actorId: string | null;
  costCents: number;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  epoch: number;
  nextSeq: number;
  nextStepIndex: number;
  chainHead: string | null;
  /** A request to cancel the run, made while a worker held it or raced for it; honoured between steps. */
  cancelRequest: CancelRequest | null;
}

/** A request to cancel a run and its attestation by the process that made it (docs/proofs.md). */
export interface CancelRequest {
  requestedAt: Date;
  attestation: string | null;
}

/** The trace formats a proof can be in (docs/proofs.md): every run since format v2 landed is v2. */
export type TraceFormatName = "aos-trace-v1" | "aos-trace-v2";

/** A format v2 trace's stored bytes: its header, plan and (once ended) run-end, and the header's attestation. */
export interface StoredTraceBytes {
  header: Buffer;
  plan: Buffer;
  runEnd: Buffer | null;
  attestation: string | null;
}

export interface Trace {
  traceId: string;
  runId: string;
  tenantId: string;
  agentId: string;
  planHash: string;
  status: TraceStatus;
  rootHash: string | null;
  merkleRoot: string | null;
  treeSize: number | null;
  startedAt: Date;
  completedAt: Date | null;
  createdAt: Date;
  metadata: Record<string, unknown>;
  format: TraceFormatName;
  /** The hashed bytes (format v2); null for a v1 trace. */
  stored: StoredTraceBytes | null;
}

/** A skill's error as stored in a trace step and shown to users. */
export interface StepError {
  code: string;
  message: string;
  category: string;
  retryable: boolean;
  details?: Record<string, unknown> | undefined;
}

export interface TraceStep {
  traceId: string;
  seq: number;
  stepIndex: number;
  stepId: string;
  attempt: number;
  skillName: string;
  skillVersion: string;
  params: Record<string, unknown>;
  status: StepStatus;
  outcomeCode: string;
  outcomeData: unknown;
  error: StepError | null;
  costCents: number;
  tokens: number;
  durationMs: number;
  startedAt: Date;
  completedAt: Date;
  decision: StepDecision | null;
  leafHash: string;
  chainHash: string;
  /**
   * When `aos prune` removed the step's payload (params read `{}`, outcomeData and error `null`); its hashes stay, so
   * its leaf is checked against the chain and the signed checkpoint but cannot be recomputed from its content.
   * Absent or null: the step has its payload.
   */
  prunedAt?: Date | null;
}

/**
 * An attempt that began executing, as live progress tells it: from its intent row (a skill that leaves the process),
 * or from the run's in-process mark (one that does not, `runs.attempt_started`: progress only, not proven).
 */
export interface AttemptStarted {
  stepIndex: number;
  stepId: string;
  skillName: string;
  attempt: number;
  decision: StepDecision | null;
  startedAt: Date;
}

/** The policy engine's answer before a step; stored in the trace step, so it is inside the proof. */
export interface StepDecision {
  action: "allow" | "deny" | "require_approval";
  reason: string;
  policy_id: string;
  policy_hash: string;
}

export function traceIdFor(runId: string): string {
  return `trace_${runId}`;
}

/**
 * A time read from a database row, as ISO 8601: null when the row holds one JavaScript cannot represent (past year
 * 275760, which PostgreSQL stores and only a database writer would put there). Readers show such a row rather than
 * fail on it; its proof says what was changed.
 */
export function isoTime(time: Date): string | null {
  return Number.isFinite(time.getTime()) ? time.toISOString() : null;
}
