import type { Agent } from "../../glossary.js";
import type { Queryable } from "../database.js";

interface AgentRow {
  id: string;
  tenant_id: string;
  name: string;
  status: Agent["status"];
  is_default: boolean;
  budget_cents: string | null;
  spent_cents: string;
  concurrent_runs_limit: number;
  rate_limit_rpm: number;
  allowed_hosts: string[];
  created_at: Date;
}

const AGENT_COLUMNS = `id, tenant_id, name, status, is_default, budget_cents, spent_cents, concurrent_runs_limit,
  rate_limit_rpm, allowed_hosts, created_at`;

function toAgent(row: AgentRow): Agent {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    status: row.status,
    isDefault: row.is_default,
    budgetCents: row.budget_cents === null ? null : Number(row.budget_cents),
    spentCents: Number(row.spent_cents),
    concurrentRunsLimit: row.concurrent_runs_limit,
    rateLimitRpm: row.rate_limit_rpm,
    allowedHosts: row.allowed_hosts,
    createdAt: row.created_at,
  };
}

export interface NewAgent {
  id: string;
  tenantId: string;
  name: string;
  budgetCents: number | null;
  allowedHosts: string[];
  concurrentRunsLimit: number;
}

export async function insertAgent(db: Queryable, agent: NewAgent): Promise<Agent> {
  const { rows } = await db.query<AgentRow>(
    `insert into agents (id, tenant_id, name, budget_cents, allowed_hosts, concurrent_runs_limit)
values ($1::text, $2::text, $3::text, $4::bigint, $5::text[], $6::int)
returning ${AGENT_COLUMNS}`,
    [agent.id, agent.tenantId, agent.name, agent.budgetCents, agent.allowedHosts, agent.concurrentRunsLimit],
  );
  return toAgent(rows[0] as AgentRow);
}

/**
 * Creates the tenant's default agent unless it exists; concurrent callers converge on one row. No conflict target:
 * a racing insert of the default agent collides on agents_default_per_tenant and on agents_name_per_tenant (the
 * name "default" is kept for it), and whichever index reports the collision, the row that exists is the one wanted.
 */
export async function insertDefaultAgentIfMissing(db: Queryable, id: string, tenantId: string): Promise<void> {
  await db.query(
    `insert into agents (id, tenant_id, name, is_default)
values ($1::text, $2::text, 'default', true)
on conflict do nothing`,
    [id, tenantId],
  );
}

export async function findDefaultAgent(db: Queryable, tenantId: string): Promise<Agent | undefined> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text and is_default`,
    [tenantId],
  );
  return rows[0] && toAgent(rows[0]);
}

/** Tenant-scoped: another tenant's agent is indistinguishable from one that does not exist. */
export async function findAgent(db: Queryable, tenantId: string, agentId: string): Promise<Agent | undefined> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text and id = $2::text`,
    [tenantId, agentId],
  );
  return rows[0] && toAgent(rows[0]);
}

/**
 * The tenant's agents that `ref` names: the one whose id it is, and, when `byName`, the one whose name it is. Two rows
 * only when one agent's id is another's name (ids made outside AOS); the caller says that is ambiguous.
 */
export async function findAgentsByRef(db: Queryable, tenantId: string, ref: string, byName: boolean): Promise<Agent[]> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text and (id = $2::text or ($3::boolean and name = $2::text))
order by id`,
    [tenantId, ref, byName],
  );
  return rows.map(toAgent);
}

/** The tenant's agent of that name, if any: the one a new or renamed agent would collide with. */
export async function findAgentByName(db: Queryable, tenantId: string, name: string): Promise<Agent | undefined> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text and name = $2::text`,
    [tenantId, name],
  );
  return rows[0] && toAgent(rows[0]);
}

/**
 * The agent, locked until the transaction ends. Settings are changed read-modify-write (a host added to the list
 * as it is): the row lock makes two concurrent changes apply one after the other, so neither undoes the other's.
 */
export async function lockAgent(db: Queryable, tenantId: string, agentId: string): Promise<Agent | undefined> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text and id = $2::text
for update`,
    [tenantId, agentId],
  );
  return rows[0] && toAgent(rows[0]);
}

export interface AgentSettings {
  name: string;
  budgetCents: number | null;
  concurrentRunsLimit: number;
  allowedHosts: string[];
}

export async function updateAgentSettings(db: Queryable, tenantId: string, agentId: string, settings: AgentSettings): Promise<Agent> {
  const { rows } = await db.query<AgentRow>(
    `update agents
set name = $3::text, budget_cents = $4::bigint, concurrent_runs_limit = $5::int, allowed_hosts = $6::text[],
  updated_at = now()
where tenant_id = $1::text and id = $2::text
returning ${AGENT_COLUMNS}`,
    [tenantId, agentId, settings.name, settings.budgetCents, settings.concurrentRunsLimit, settings.allowedHosts],
  );
  return toAgent(rows[0] as AgentRow);
}

export async function listAgents(db: Queryable, tenantId: string): Promise<Agent[]> {
  const { rows } = await db.query<AgentRow>(
    `select ${AGENT_COLUMNS}
from agents
where tenant_id = $1::text
order by created_at, id`,
    [tenantId],
  );
  return rows.map(toAgent);
}
