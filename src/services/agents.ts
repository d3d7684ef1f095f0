import { randomUUID } from "node:crypto";
import { type Database, withTransaction } from "../db/database.js";
import {
  findAgentByName,
  findAgentsByRef,
  findDefaultAgent,
  insertAgent,
  insertDefaultAgentIfMissing,
  listAgents,
} from "../db/queries/agents.js";
import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
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

/** A UUID names an agent by its id, never by its name (every id AOS makes is one). */
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The name of each tenant's default agent, created on first use; no other agent may take it. */
const DEFAULT_AGENT_NAME = "default";

export async function createAgent(db: Database, input: CreateAgentInput): Promise<Agent> {
  const tenantId = requireTenant(input.tenantId);
  const name = agentName(input.name);
  const budgetCents = input.budgetCents === undefined ? null : budget(input.budgetCents);
  const limit = concurrentRunsLimit(input.concurrentRunsLimit ?? DEFAULT_CONCURRENT_RUNS_LIMIT);
  const allowedHosts = (input.allowedHosts ?? []).map(allowedHost);
  return withUniqueName(db, tenantId, name, () =>
    withTransaction(db, async (client) => {
      await ensureTenant(client, tenantId);
      return insertAgent(client, { concurrentRunsLimit: limit, id: randomUUID(), tenantId, name, budgetCents, allowedHosts });
    }),
  );
}

/** A new name for an agent: not empty, not taken by the default agent, and not a UUID, which would name an id. */
export function agentName(raw: string): string {
  const name = raw.trim();
  if (name === "") throw new AppError("VALIDATION_ERROR", "an agent needs a non-empty name", { details: { field: "name" } });
  checkLength(name, MAX_NAME_CHARS, "name");
  if (name === DEFAULT_AGENT_NAME) {
    throw new AppError("VALIDATION_ERROR", `"${DEFAULT_AGENT_NAME}" is kept for the tenant's default agent (created on first use); choose another name`, {
      details: { field: "name" },
    });
  }
  if (UUID_SHAPE.test(name)) {
    throw new AppError("VALIDATION_ERROR", `"${name}" looks like an agent id (a UUID), and a UUID always names an agent by id; choose another name`, {
      details: { field: "name" },
    });
  }
  return name;
}

export function budget(cents: number): number {
  if (!Number.isInteger(cents) || cents < 0) {
    throw new AppError("VALIDATION_ERROR", `budget_cents must be a whole number >= 0, got ${cents}`, { details: { field: "budget_cents" } });
  }
  return cents;
}

export function concurrentRunsLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new AppError("VALIDATION_ERROR", `concurrent_runs_limit must be a whole number from 1 to 100000, got ${limit}`, {
      details: { field: "concurrent_runs_limit" },
    });
  }
  return limit;
}

/**
 * Runs `write`, which gives an agent `name`; when the tenant's unique name index refuses it, says which agent has the
 * name instead. The index decides, not a read before the write, so two agents created at once cannot share a name.
 */
export async function withUniqueName<T>(db: Database, tenantId: string, name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (sqlstateOf(error) !== SQLSTATE.UNIQUE_VIOLATION) throw error;
    const holder = await findAgentByName(db.pool, tenantId, name);
    const which = holder === undefined ? "" : ` (agent ${holder.id})`;
    throw new AppError("AGENT_NAME_TAKEN", `tenant ${tenantId} already has an agent called "${name}"${which}`, {
      cause: error,
      details: { field: "name", ...(holder === undefined ? {} : { agent_id: holder.id }) },
    });
  }
}

/**
 * One allowed_hosts entry, normalised: a host name or an address, with an optional :port. The list narrows which
 * hosts the agent's steps may reach; it never opens the egress floor, so a range or a wildcard has no meaning in it.
 */
export function allowedHost(entry: string): string {
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
 * The tenant's agent that `ref` names: by id, or, unless `ref` is UUID-shaped, by name. Another tenant's agent is
 * indistinguishable from one that does not exist.
 */
export async function findAgentByRef(db: Queryable, tenantId: string, ref: string): Promise<Agent | undefined> {
  const agents = await findAgentsByRef(db, tenantId, ref, !UUID_SHAPE.test(ref));
  if (agents.length > 1) {
    const [byId, byName] = agents[0]?.id === ref ? agents : [...agents].reverse();
    throw new AppError("VALIDATION_ERROR", `"${ref}" is the id of one agent and the name of another (${byName?.id}); give that one's id`, {
      details: { field: "agent_id", agent_ids: [byId?.id, byName?.id] },
    });
  }
  return agents[0];
}

/** As findAgentByRef, for an agent that must exist: AGENT_NOT_FOUND otherwise. */
export async function requireAgentByRef(db: Queryable, tenantId: string, ref: string): Promise<Agent> {
  const agent = await findAgentByRef(db, tenantId, ref);
  if (agent === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${ref}`, { details: { agent_id: ref } });
  return agent;
}

/**
 * The agent a run is for: the named one (by id or name), which must belong to the tenant, or the tenant's default
 * agent, created on first use. Call inside the transaction that creates the run.
 */
export async function resolveAgent(db: Queryable, tenantId: string, agentRef: string | undefined): Promise<Agent> {
  if (agentRef !== undefined) return requireAgentByRef(db, tenantId, agentRef);
  await insertDefaultAgentIfMissing(db, randomUUID(), tenantId);
  const agent = await findDefaultAgent(db, tenantId);
  if (agent === undefined) throw new AppError("INTERNAL", `the default agent of tenant ${tenantId} could not be created`);
  return agent;
}
