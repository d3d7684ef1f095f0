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

/** Creates the tenant's default agent unless it exists; concurrent callers converge on one row. */
export async function insertDefaultAgentIfMissing(db: Queryable, id: string, tenantId: string): Promise<void> {
  await db.query(
    `insert into agents (id, tenant_id, name, is_default)
values ($1::text, $2::text, 'default', true)
on conflict (tenant_id) where is_default do nothing`,
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
