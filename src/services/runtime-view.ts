import type { Queryable } from "../db/database.js";
import { findDefaultAgent } from "../db/queries/agents.js";
import { tenantDailySpend, utcDay } from "../db/queries/budgets.js";
import type { Agent } from "../glossary.js";
import { effectivePolicy, type EffectivePolicy } from "../policy/policy-document.js";
import { DEFAULT_CONCURRENT_RUNS_LIMIT, requireAgentByRef, requireTenant } from "./agents.js";
import { loadEffectivePolicy } from "../policy/effective-policy.js";

// What an agent may do and spend right now, read without writing anything: the ground simulate, capabilities
// and query answer from. Budgets come from the agent's row and the tenant's UTC-day ledger, the same numbers a
// step's reservation checks.

export interface BudgetStatus {
  agent: { limitCents: number | null; spentCents: number; remainingCents: number | null };
  tenantDay: { day: string; capCents: number | null; spentCents: number; remainingCents: number | null };
  /** The least of the two remainders: what the next run may still spend; null when neither is limited. */
  remainingCents: number | null;
}

export interface RuntimeView {
  tenantId: string;
  /** The agent asked for, or the tenant's default agent as it is, or as `aos run` would create it. */
  agent: Agent;
  /** False when the tenant's default agent does not exist yet: its budget is then the new agent's (none). */
  agentExists: boolean;
  policy: EffectivePolicy;
  budget: BudgetStatus;
}

/** Reads the view for a tenant and, optionally, one of its agents by id or name (AGENT_NOT_FOUND for another tenant's). */
export async function loadRuntimeView(db: Queryable, tenantId: string, agentId?: string): Promise<RuntimeView> {
  const tenant = requireTenant(tenantId);
  let agent: Agent | undefined;
  if (agentId !== undefined) {
    agent = await requireAgentByRef(db, tenant, agentId);
  } else {
    agent = await findDefaultAgent(db, tenant);
  }
  const agentExists = agent !== undefined;
  const viewed = agent ?? unsavedDefaultAgent(tenant);
  // An agent that does not exist has no agent policy; the empty id matches none.
  const policy = await loadEffectivePolicy(db, tenant, viewed.id);
  const budget = await budgetStatus(db, tenant, viewed, policy);
  return { tenantId: tenant, agent: viewed, agentExists, policy, budget };
}

/** The view with no tenant at all: the default policy, no budget; what simulate uses without --tenant-id. */
export function tenantlessPolicy(): EffectivePolicy {
  return effectivePolicy(undefined, undefined, { tenantVersion: null, agentVersion: null });
}

async function budgetStatus(db: Queryable, tenantId: string, agent: Agent, policy: EffectivePolicy): Promise<BudgetStatus> {
  const day = utcDay(new Date());
  const capCents = policy.document.caps.tenant_daily_cost_cents;
  const daySpent = await tenantDailySpend(db, tenantId, day);
  const agentRemaining = agent.budgetCents === null ? null : Math.max(0, agent.budgetCents - agent.spentCents);
  const dayRemaining = capCents === null ? null : Math.max(0, capCents - daySpent);
  return {
    agent: { limitCents: agent.budgetCents, spentCents: agent.spentCents, remainingCents: agentRemaining },
    tenantDay: { day, capCents, spentCents: daySpent, remainingCents: dayRemaining },
    remainingCents: least(agentRemaining, dayRemaining),
  };
}

export function least(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function unsavedDefaultAgent(tenantId: string): Agent {
  return {
    id: "",
    tenantId,
    name: "default",
    status: "active",
    isDefault: true,
    budgetCents: null,
    spentCents: 0,
    concurrentRunsLimit: DEFAULT_CONCURRENT_RUNS_LIMIT,
    rateLimitRpm: 60,
    allowedHosts: [],
    createdAt: new Date(0),
  };
}
