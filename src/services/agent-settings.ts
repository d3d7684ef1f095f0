import { type Database, withTransaction } from "../db/database.js";
import { lockAgent, updateAgentSettings } from "../db/queries/agents.js";
import { AppError } from "../errors.js";
import type { Agent } from "../glossary.js";
import { agentName, allowedHost, budget, concurrentRunsLimit, requireAgentByRef, requireTenant, withUniqueName } from "./agents.js";

/** What `aos update-agent` and `PATCH /agents/{id}` change; what is left out stays as it is. */
export interface AgentChanges {
  tenantId: string;
  /** The agent, by id or by name. */
  agent: string;
  name?: string | undefined;
  /** A whole number of cents, or null for no budget. */
  budgetCents?: number | null | undefined;
  concurrentRunsLimit?: number | undefined;
  /** The whole list, replacing the agent's; [] lets its steps reach every host the egress floor lets through. */
  allowedHosts?: string[] | undefined;
  addHosts?: string[] | undefined;
  removeHosts?: string[] | undefined;
}

/**
 * Changes an agent's name, budget, concurrency limit or allowed hosts, in one transaction on the locked row. Runs see
 * a budget at their next step and a concurrency limit at their next claim; allowed_hosts are read when a run starts
 * or resumes, so a run already executing keeps the hosts it started with. Removing hosts never empties the list as
 * a side effect: an empty list means "no narrowing", so it has to be asked for as such (allowed_hosts: []).
 */
export async function updateAgent(db: Database, changes: AgentChanges): Promise<Agent> {
  const tenantId = requireTenant(changes.tenantId);
  const name = changes.name === undefined ? undefined : agentName(changes.name);
  const budgetCents = changes.budgetCents === undefined || changes.budgetCents === null ? changes.budgetCents : budget(changes.budgetCents);
  const limit = changes.concurrentRunsLimit === undefined ? undefined : concurrentRunsLimit(changes.concurrentRunsLimit);
  const replace = changes.allowedHosts?.map(allowedHost);
  const add = (changes.addHosts ?? []).map(allowedHost);
  const remove = (changes.removeHosts ?? []).map(allowedHost);
  if (replace !== undefined && add.length + remove.length > 0) {
    throw new AppError("VALIDATION_ERROR", "give the whole list of allowed hosts, or hosts to add and remove, not both", { details: { field: "allowed_hosts" } });
  }
  const found = await requireAgentByRef(db.pool, tenantId, changes.agent);
  const nothing = [name, budgetCents, limit, replace].every((value) => value === undefined) && add.length + remove.length === 0;
  if (nothing) {
    throw new AppError("VALIDATION_ERROR", "nothing to change: give a name, a budget, a concurrent runs limit or allowed hosts");
  }
  return withUniqueName(db, tenantId, name ?? found.name, () =>
    withTransaction(db, async (client) => {
      const agent = await lockAgent(client, tenantId, found.id);
      if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${changes.agent}`, { details: { agent_id: changes.agent } });
      if (name !== undefined && agent.isDefault) {
        throw new AppError("VALIDATION_ERROR", "the tenant's default agent keeps its name", { details: { field: "name" } });
      }
      return updateAgentSettings(client, tenantId, agent.id, {
        name: name ?? agent.name,
        budgetCents: budgetCents === undefined ? agent.budgetCents : budgetCents,
        concurrentRunsLimit: limit ?? agent.concurrentRunsLimit,
        allowedHosts: replace ?? changedHosts(agent.allowedHosts, add, remove),
      });
    }),
  );
}

/** The list with `add` appended (those not in it yet) and `remove` taken out; each removed host must be in it. */
function changedHosts(current: readonly string[], add: readonly string[], remove: readonly string[]): string[] {
  const missing = remove.filter((host) => !current.includes(host));
  if (missing.length > 0) {
    const listed = current.length === 0 ? "it is empty" : `it holds ${current.join(", ")}`;
    throw new AppError("VALIDATION_ERROR", `${missing.join(", ")} is not in the agent's allowed_hosts (${listed})`, {
      details: { field: "remove_allowed_hosts", missing },
    });
  }
  const hosts = [...current.filter((host) => !remove.includes(host)), ...add.filter((host, index) => !current.includes(host) && add.indexOf(host) === index)];
  if (hosts.length === 0 && current.length > 0) {
    throw new AppError(
      "VALIDATION_ERROR",
      "that would leave allowed_hosts empty, which lets the agent's steps reach every host the egress floor lets through; to mean that, clear the whole list instead of removing hosts",
      { details: { field: "remove_allowed_hosts" } },
    );
  }
  return hosts;
}
