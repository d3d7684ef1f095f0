import type { Agent } from "../glossary.js";

/** An agent as `aos … --json` prints it and the API returns it. */
export function agentJson(agent: Agent): Record<string, unknown> {
  return {
    agent_id: agent.id,
    tenant_id: agent.tenantId,
    name: agent.name,
    status: agent.status,
    is_default: agent.isDefault,
    budget_cents: agent.budgetCents,
    spent_cents: agent.spentCents,
    concurrent_runs_limit: agent.concurrentRunsLimit,
    allowed_hosts: agent.allowedHosts,
    created_at: agent.createdAt.toISOString(),
  };
}
