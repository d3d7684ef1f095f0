// The API's JSON, as the client sees it. Field names are the wire's (snake_case). The shapes are generated from the
// OpenAPI document (api-types.ts, by scripts/client-types.ts), so the SDK says what the spec says; a test fails when
// the two drift. Only the conveniences below are written by hand, each derived from a generated type.

import type { CreateRunInput, QueryAnswer, QueryInput, SimulateInput } from "./api-types.js";

export type {
  AcceptedRun,
  Agent,
  AgentChanges,
  AgentInput,
  AllowedSkillsAnswer,
  Capabilities,
  CancelOutcome,
  CreateRunInput,
  DecisionInput,
  Evidence,
  GoalInput,
  Health,
  Incident,
  LastStepOutcomeAnswer,
  ProofBundle,
  ProofBundleV1,
  ProofBundleV3,
  QueryAnswer,
  QueryInput,
  Readiness,
  RemainingBudgetAnswer,
  Run,
  RunFacts,
  RunProof,
  RunProofSummary,
  RunStatus,
  RunSummary,
  SimulateInput,
  SimulationReport,
  SkillContract,
  SkillSummary,
  Step,
  StepError,
  TriedCallsAnswer,
  VerificationKeys,
} from "./api-types.js";

/** One step of an explicit plan (docs/plans.md): what `plan.steps` of CreateRunInput holds. */
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

/** What `simulate` takes besides the plan. */
export type SimulateOptions = Omit<SimulateInput, "plan">;

export type QueryType = QueryAnswer["query_type"];

export type QueryParams = NonNullable<QueryInput["params"]>;

/** The actor fields of a run-creating request: who asked (`origin_system_id`) and who acts. */
export type ActorOptions = Pick<CreateRunInput, "origin_system_id" | "actor_type" | "actor_id">;
