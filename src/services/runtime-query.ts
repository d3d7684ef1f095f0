import type { Config } from "../config.js";
import type { Queryable } from "../db/database.js";
import { findLastStep, listTriedCalls } from "../db/queries/agent-history.js";
import { findRun } from "../db/queries/runs.js";
import { AppError } from "../errors.js";
import { checkLength, MAX_GOAL_CHARS } from "../input-text.js";
import type { Run } from "../glossary.js";
import { listSkills } from "../skills/registry.js";
import { requireAgentByRef, requireTenant } from "./agents.js";
import { unavailableReason } from "./capabilities.js";
import { least, loadRuntimeView, type RuntimeView } from "./runtime-view.js";

/**
 * The questions an agent (or its operator) can ask about its own state, answered from the database. Upstream's
 * /runtime/query answered constants; these read the agent's row, the tenant's day ledger, the policy and the
 * recorded trace steps, always within the tenant.
 */
export const QUERY_TYPES = ["remaining_budget", "allowed_skills", "last_step_outcome", "what_did_i_try_already"] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export interface RuntimeQueryInput {
  tenantId: string;
  agentId?: string | undefined;
  /** Narrows the answer to one run (and picks its agent when no agent is named). */
  runId?: string | undefined;
  /** what_did_i_try_already: only runs with exactly this goal. */
  goal?: string | undefined;
  /** what_did_i_try_already: at most this many distinct calls (default 20). */
  limit?: number | undefined;
}

export interface QueryAnswer {
  query_type: QueryType;
  tenant_id: string;
  agent_id: string | null;
  run_id: string | null;
  answer: unknown;
}

function isQueryType(value: string): value is QueryType {
  return (QUERY_TYPES as readonly string[]).includes(value);
}

export async function runtimeQuery(db: Queryable, config: Config, queryType: string, input: RuntimeQueryInput): Promise<QueryAnswer> {
  if (!isQueryType(queryType)) {
    throw new AppError("VALIDATION_ERROR", `unknown query "${queryType}"; ask one of: ${QUERY_TYPES.join(", ")}`);
  }
  if (input.goal !== undefined) checkLength(input.goal, MAX_GOAL_CHARS, "goal");
  const named = input.agentId === undefined ? undefined : await requireAgentByRef(db, requireTenant(input.tenantId), input.agentId);
  const run = input.runId === undefined ? undefined : await requireRun(db, input.tenantId, input.runId, named?.id);
  const view = await loadRuntimeView(db, input.tenantId, named?.id ?? run?.agentId);
  const agentId = view.agentExists ? view.agent.id : null;
  const answer = await answerFor(queryType, db, config, view, agentId, run, input);
  return { query_type: queryType, tenant_id: view.tenantId, agent_id: agentId, run_id: run?.id ?? null, answer };
}

async function answerFor(
  queryType: QueryType,
  db: Queryable,
  config: Config,
  view: RuntimeView,
  agentId: string | null,
  run: Run | undefined,
  input: RuntimeQueryInput,
): Promise<unknown> {
  switch (queryType) {
    case "remaining_budget":
      return remainingBudget(view, run);
    case "allowed_skills":
      return allowedSkills(view, config);
    case "last_step_outcome": {
      const last = agentId === null ? undefined : await findLastStep(db, view.tenantId, agentId, run?.id);
      return last === undefined
        ? null
        : {
            run_id: last.runId,
            seq: last.seq,
            step_id: last.stepId,
            attempt: last.attempt,
            skill: last.skill,
            status: last.status,
            outcome_code: last.outcomeCode,
            error_message: last.errorMessage,
            cost_cents: last.costCents,
            completed_at: last.completedAt.toISOString(),
          };
    }
    case "what_did_i_try_already": {
      if (agentId === null) return [];
      const limit = input.limit ?? 20;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) throw new AppError("VALIDATION_ERROR", "limit must be a whole number from 1 to 500", { details: { field: "limit" } });
      const calls = await listTriedCalls(db, view.tenantId, agentId, { runId: run?.id, goal: input.goal, limit });
      return calls.map((call) => ({
        skill: call.skill,
        params: call.params,
        attempts: call.attempts,
        runs: call.runs,
        succeeded: call.succeeded,
        failed: call.failed,
        blocked: call.blocked,
        last_status: call.lastStatus,
        last_outcome_code: call.lastOutcomeCode,
        last_error_message: call.lastErrorMessage,
        last_at: call.lastAt.toISOString(),
      }));
    }
  }
}

/** The agent's budget, the tenant's day and, for a run, what its per-run cap still allows. */
function remainingBudget(view: RuntimeView, run: Run | undefined): unknown {
  const { agent, tenantDay } = view.budget;
  const runCap = view.policy.document.caps.run_cost_cents;
  const runRemaining = run === undefined || runCap === null ? null : Math.max(0, runCap - run.costCents);
  return {
    remaining_cents: run === undefined ? view.budget.remainingCents : least(view.budget.remainingCents, runRemaining),
    agent: { limit_cents: agent.limitCents, spent_cents: agent.spentCents, remaining_cents: agent.remainingCents },
    tenant_day: { day: tenantDay.day, cap_cents: tenantDay.capCents, spent_cents: tenantDay.spentCents, remaining_cents: tenantDay.remainingCents },
    run: run === undefined ? null : { cost_cents: run.costCents, cap_cents: runCap, remaining_cents: runRemaining },
  };
}

function allowedSkills(view: RuntimeView, config: Config): unknown {
  const skills = listSkills();
  const denied = skills.flatMap((skill) => {
    const reason = unavailableReason(view.policy, skill);
    return reason === null ? [] : [{ skill: skill.name, reason }];
  });
  const allowed = skills.filter((skill) => unavailableReason(view.policy, skill) === null);
  return {
    allowed: allowed.map((skill) => skill.name),
    requires_approval: allowed.filter((skill) => view.policy.requireApproval.has(skill.name)).map((skill) => skill.name),
    not_configured: allowed.flatMap((skill) => {
      const missing = skill.missingSettings?.(config) ?? [];
      return missing.length === 0 ? [] : [{ skill: skill.name, missing_settings: missing }];
    }),
    denied,
    policy: { id: view.policy.id, hash: view.policy.hash },
  };
}

async function requireRun(db: Queryable, tenantId: string, runId: string, agentId: string | undefined): Promise<Run> {
  const run = await findRun(db, tenantId, runId);
  if (run === undefined) throw new AppError("RUN_NOT_FOUND", `Run not found: ${runId}`, { details: { run_id: runId } });
  if (agentId !== undefined && run.agentId !== agentId) {
    throw new AppError("VALIDATION_ERROR", `run ${runId} belongs to agent ${run.agentId}, not ${agentId}; drop agent_id or name that agent`, {
      details: { field: "agent_id" },
    });
  }
  return run;
}
