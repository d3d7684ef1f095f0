import { randomUUID } from "node:crypto";
import { type Database, withTransaction } from "../db/database.js";
import { findAgent, findDefaultAgent, insertAgent, insertDefaultAgentIfMissing, listAgents } from "../db/queries/agents.js";
import { ensureTenant } from "../db/queries/tenants.js";
import { AppError } from "../errors.js";
import { checkLength, MAX_NAME_CHARS } from "../input-text.js";
import type { Agent } from "../glossary.js";
import { parseHostEntry } from "../egress.js";
import type { Queryable } from "../db/database.js";

export function requireTenant(tenantId: string | undefined): string {
  const trimmed = tenantId?.trim() ?? "";
  if (trimmed === "") throw new AppError("TENANT_REQUIRED", "a tenant is required: give a tenant_id", { details: { field: "tenant_id" } });
  if (trimmed.length > 128) throw new AppError("VALIDATION_ERROR", "tenant_id is at most 128 characters", { details: { field: "tenant_id" } });
  return trimmed;
}

export interface CreateAgentInput {
  tenantId: string;
  name: string;
  budgetCents?: number | undefined;
  allowedHosts?: string[] | undefined;
  /** How many of the agent's runs may execute at once (default 5). */
  concurrentRunsLimit?: number | undefined;
}

export const DEFAULT_CONCURRENT_RUNS_LIMIT = 5;

export async function createAgent(db: Database, input: CreateAgentInput): Promise<Agent> {
  const tenantId = requireTenant(input.tenantId);
  const name = input.name.trim();
  if (name === "") throw new AppError("VALIDATION_ERROR", "an agent needs a non-empty name", { details: { field: "name" } });
  checkLength(name, MAX_NAME_CHARS, "name");
  if (input.budgetCents !== undefined && (!Number.isInteger(input.budgetCents) || input.budgetCents < 0)) {
    throw new AppError("VALIDATION_ERROR", `budget_cents must be a whole number >= 0, got ${input.budgetCents}`, { details: { field: "budget_cents" } });
  }
  const limit = input.concurrentRunsLimit ?? DEFAULT_CONCURRENT_RUNS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new AppError("VALIDATION_ERROR", `concurrent_runs_limit must be a whole number from 1 to 100000, got ${limit}`, {
      details: { field: "concurrent_runs_limit" },
    });
  }
  const allowedHosts = (input.allowedHosts ?? []).map(allowedHost);
  return withTransaction(db, async (client) => {
    await ensureTenant(client, tenantId);
    return insertAgent(client, { concurrentRunsLimit: limit, id: randomUUID(), tenantId, name, budgetCents: input.budgetCents ?? null, allowedHosts });
  });
}

/**
 * One allowed_hosts entry, normalised: a host name or an address, with an optional :port. The list narrows which
 * hosts the agent's steps may reach; it never opens the egress floor, so a range or a wildcard has no meaning in it.
 */
function allowedHost(entry: string): string {
  const parsed = parseHostEntry(entry);
  if (typeof parsed === "string") {
    const hint = "a host name or an address, with an optional :port (api.example.com, 10.0.0.5:8080, [::1]:8443)";
    throw new AppError("VALIDATION_ERROR", `allowed_hosts entry ${JSON.stringify(entry)}: ${parsed}; give ${hint}`, { details: { field: "allowed_hosts", entry } });
  }
  const host = parsed.host.includes(":") && parsed.port !== undefined ? `[${parsed.host}]` : parsed.host;
  return parsed.port === undefined ? host : `${host}:${parsed.port}`;
}

export function listTenantAgents(db: Database, tenantId: string): Promise<Agent[]> {
  return listAgents(db.pool, requireTenant(tenantId));
}

/**
 * The agent a run is for: the named one, which must belong to the tenant, or the tenant's default agent,
 * created on first use. Call inside the transaction that creates the run.
 */
export async function resolveAgent(db: Queryable, tenantId: string, agentId: string | undefined): Promise<Agent> {
  if (agentId !== undefined) {
    const agent = await findAgent(db, tenantId, agentId);
    if (agent === undefined) {
      throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${agentId}`, { details: { agent_id: agentId } });
    }
    return agent;
  }
  await insertDefaultAgentIfMissing(db, randomUUID(), tenantId);
  const agent = await findDefaultAgent(db, tenantId);
  if (agent === undefined) throw new AppError("INTERNAL", `the default agent of tenant ${tenantId} could not be created`);
  return agent;
}
