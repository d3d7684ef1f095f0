import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { findAgent, findDefaultAgent } from "../db/queries/agents.js";
import { tenantDailySpend, utcDay } from "../db/queries/budgets.js";
import { AppError } from "../errors.js";
import type { Agent } from "../glossary.js";
import { silentLogger } from "../logger.js";
import type { EffectivePolicy } from "../policy/policy-document.js";
import { loadEffectivePolicy } from "../policy/effective-policy.js";
import { type LlmPlannerBackend, type LlmPlanning, planWithLlm } from "./llm-planner.js";
import { plannerManifest } from "./manifest.js";

export interface ModelPlanningInput {
  tenantId: string;
  agentId: string | undefined;
  goal: string;
  planId: string;
}

const KEY_VARIABLES = { anthropic: "ANTHROPIC_API_KEY", openai: "OPENAI_API_KEY" } as const;

/**
 * Plans a run's goal with the configured model (PLANNER_BACKEND anthropic or openai). Everything that would make
 * the call pointless or unpaid is checked first, by reading only, so a refusal leaves nothing behind: the key
 * (never the stub instead), the agent, a policy that allows at least one skill, and budget left on the agent and
 * on the tenant's day. What the calls cost is charged by the caller, in the transaction that creates the run.
 */
export async function planWithModel(db: Database, config: Config, input: ModelPlanningInput): Promise<LlmPlanning> {
  const backend = requireModelBackend(config);
  const model = config.plannerModel;
  if (model === undefined) throw new AppError("INTERNAL", `PLANNER_BACKEND=${backend} was configured without a model`);
  const agent = await findPayingAgent(db, input.tenantId, input.agentId);
  // A default agent not created yet has no policy of its own: "" matches no agent, so the tenant's policy applies.
  const policy = await loadEffectivePolicy(db.pool, input.tenantId, agent?.id ?? "");
  const manifest = plannerManifest(policy);
  if (manifest.length === 0) {
    throw new AppError("POLICY_VIOLATION", "the agent's policy allows no skill (allowed_skills is empty), so there is nothing to plan with; the planner's model was not called");
  }
  await requireBudgetLeft(db, input.tenantId, agent, policy);
  return planWithLlm(
    { goal: input.goal, planId: input.planId, manifest },
    { backend, model, maxTokens: config.plannerMaxTokens, maxPlanSteps: config.maxPlanSteps, settings: config, log: silentLogger },
  );
}

/** The model backend, with its key present: checked before anything is read or written. */
function requireModelBackend(config: Config): LlmPlannerBackend {
  const backend = config.plannerBackend;
  if (backend === "stub") throw new AppError("INTERNAL", "the model planner was asked for with PLANNER_BACKEND=stub");
  const key = backend === "anthropic" ? config.anthropicApiKey : config.openaiApiKey;
  if (key === undefined || key === "") {
    throw new AppError(
      "CREDENTIALS_MISSING",
      `PLANNER_BACKEND=${backend} needs ${KEY_VARIABLES[backend]}; set it, or choose another PLANNER_BACKEND (the stub planner is never used in its place)`,
    );
  }
  return backend;
}

/** The agent the run will be for, read only: a named agent must exist; the default one may not have been created yet. */
async function findPayingAgent(db: Database, tenantId: string, agentId: string | undefined): Promise<Agent | undefined> {
  if (agentId === undefined) return findDefaultAgent(db.pool, tenantId);
  const agent = await findAgent(db.pool, tenantId, agentId);
  if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${agentId}`, { details: { agent_id: agentId } });
  return agent;
}

/**
 * No model is called for an agent with nothing left to spend, or a tenant whose day is spent. The call's cost is
 * known only afterwards, so it may take the last cents past the limit: it is charged in full (docs/planner.md).
 */
async function requireBudgetLeft(db: Database, tenantId: string, agent: Agent | undefined, policy: EffectivePolicy): Promise<void> {
  if (agent !== undefined && agent.budgetCents !== null && agent.spentCents >= agent.budgetCents) {
    throw new AppError(
      "BUDGET_EXCEEDED",
      `agent ${agent.name} has no budget left (${agent.spentCents}c spent of ${agent.budgetCents}c); the planner's model was not called`,
      { details: { agent_id: agent.id, spent_cents: agent.spentCents, budget_cents: agent.budgetCents } },
    );
  }
  const cap = policy.document.caps.tenant_daily_cost_cents;
  if (cap === null) return;
  const day = utcDay(new Date());
  const spent = await tenantDailySpend(db.pool, tenantId, day);
  if (spent >= cap) {
    throw new AppError(
      "BUDGET_EXCEEDED",
      `tenant ${tenantId} has spent its daily cap (${spent}c of ${cap}c on ${day} UTC); the planner's model was not called`,
      { details: { spent_cents: spent, cap_cents: cap, day } },
    );
  }
}
