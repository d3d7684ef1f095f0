import type { Queryable } from "../database.js";

export interface StoredPolicy {
  id: string;
  tenantId: string;
  agentId: string | null;
  version: number;
  document: unknown;
  contentHash: string;
  createdBy: string | null;
  createdAt: Date;
}

interface PolicyRow {
  id: string;
  tenant_id: string;
  agent_id: string | null;
  version: number;
  document: unknown;
  content_hash: string;
  created_by: string | null;
  created_at: Date;
}

function toPolicy(row: PolicyRow): StoredPolicy {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    version: row.version,
    document: row.document,
    contentHash: row.content_hash,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

/** The newest version of the tenant's policy (agentId null) or of one agent's. */
export async function findCurrentPolicy(db: Queryable, tenantId: string, agentId: string | null): Promise<StoredPolicy | undefined> {
  const { rows } = await db.query<PolicyRow>(
    `select id, tenant_id, agent_id, version, document, content_hash, created_by, created_at
from policies
where tenant_id = $1::text and coalesce(agent_id, '') = coalesce($2::text, '')
order by version desc
limit 1`,
    [tenantId, agentId],
  );
  return rows[0] && toPolicy(rows[0]);
}

/** The newest versions of the tenant's policy and of one agent's, in one query: what governs that agent's runs. */
export async function findCurrentPolicies(
  db: Queryable,
  tenantId: string,
  agentId: string,
): Promise<{ tenant: StoredPolicy | undefined; agent: StoredPolicy | undefined }> {
  const { rows } = await db.query<PolicyRow>(
    `select distinct on (coalesce(agent_id, '')) id, tenant_id, agent_id, version, document, content_hash, created_by,
  created_at
from policies
where tenant_id = $1::text and (agent_id is null or agent_id = $2::text)
order by coalesce(agent_id, ''), version desc`,
    [tenantId, agentId],
  );
  const policies = rows.map(toPolicy);
  return { tenant: policies.find((policy) => policy.agentId === null), agent: policies.find((policy) => policy.agentId !== null) };
}

export interface NewPolicy {
  id: string;
  tenantId: string;
  agentId: string | null;
  document: unknown;
  contentHash: string;
  createdBy: string | null;
}

/**
 * Adds the next version. Two writers racing compute the same next version; the unique index lets one win and
 * the other fail with a unique violation, which the caller reports as a conflict to retry.
 */
export async function insertPolicyVersion(db: Queryable, policy: NewPolicy): Promise<StoredPolicy> {
  const { rows } = await db.query<PolicyRow>(
    `insert into policies (id, tenant_id, agent_id, version, document, content_hash, created_by)
select $1::text, $2::text, $3::text, coalesce(max(version), 0) + 1, $4::jsonb, $5::text, $6::text
from policies
where tenant_id = $2::text and coalesce(agent_id, '') = coalesce($3::text, '')
returning id, tenant_id, agent_id, version, document, content_hash, created_by, created_at`,
    [policy.id, policy.tenantId, policy.agentId, JSON.stringify(policy.document), policy.contentHash, policy.createdBy],
  );
  return toPolicy(rows[0] as PolicyRow);
}
