import { randomUUID } from "node:crypto";
import type { Database, Queryable } from "../db/database.js";
import { findAgent } from "../db/queries/agents.js";
import { tenantDailySpend, utcDay } from "../db/queries/budgets.js";
import { findCurrentPolicies, findCurrentPolicy, insertPolicyVersion, type StoredPolicy } from "../db/queries/policies.js";
import { ensureTenant } from "../db/queries/tenants.js";
import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
import { AppError } from "../errors.js";
import { personName } from "../input-text.js";
import { formatIssues } from "../planner/plan-issue.js";
import { effectivePolicy, type EffectivePolicy, parsePolicyDocument, type PolicyDocument } from "../policy/policy-document.js";
import { listSkills } from "../skills/registry.js";
import { canonicalJson } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";
import { requireTenant } from "./agents.js";

export interface PolicyView {
  tenant: StoredPolicy | undefined;
  agent: StoredPolicy | undefined;
  effective: EffectivePolicy;
  /** What the tenant has spent today (UTC), against the daily cap in `effective` when one is set. */
  today: { day: string; spentCents: number };
}

async function requireAgent(db: Queryable, tenantId: string, agentId: string | undefined): Promise<string | null> {
  if (agentId === undefined) return null;
  if ((await findAgent(db, tenantId, agentId)) === undefined) throw new AppError("AGENT_NOT_FOUND", `Agent not found: ${agentId}`);
  return agentId;
}

/** A stored version's document, validated again: a row changed behind the validator's back must not govern runs. */
function storedDocument(stored: StoredPolicy | undefined): PolicyDocument | undefined {
  if (stored === undefined) return undefined;
  const parsed = parsePolicyDocument(stored.document, { scope: stored.agentId === null ? "tenant" : "agent" });
  if (!parsed.ok) {
    const whose = stored.agentId === null ? `tenant ${stored.tenantId}` : `agent ${stored.agentId}`;
    throw new AppError("ENFORCEMENT_SKIPPED", `stored policy version ${stored.version} of ${whose} is invalid: ${formatIssues(parsed.issues)}`);
  }
  return parsed.policy;
}

// A stored version does not change, so a merged pair is computed once per process (validation, merging, hashing);
// the key holds the documents as read, so a row changed behind the validator's back is validated again.
const MERGED_CACHE_MAX = 1000;
const mergedCache = new Map<string, EffectivePolicy>();

function merged(tenant: StoredPolicy | undefined, agent: StoredPolicy | undefined): EffectivePolicy {
  const key = JSON.stringify([tenant?.id, tenant?.document, agent?.id, agent?.document]);
  const cached = mergedCache.get(key);
  if (cached !== undefined) return cached;
  const policy = mergeStored(tenant, agent);
  if (mergedCache.size >= MERGED_CACHE_MAX) mergedCache.delete(mergedCache.keys().next().value as string);
  mergedCache.set(key, policy);
  return policy;
}

function mergeStored(tenant: StoredPolicy | undefined, agent: StoredPolicy | undefined): EffectivePolicy {
  return effectivePolicy(storedDocument(tenant), storedDocument(agent), {
    tenantVersion: tenant?.version ?? null,
    agentVersion: agent?.version ?? null,
  });
}

/** The policy a run of this agent is governed by: the tenant's current version narrowed by the agent's. */
export async function loadEffectivePolicy(db: Queryable, tenantId: string, agentId: string): Promise<EffectivePolicy> {
  const current = await findCurrentPolicies(db, tenantId, agentId);
  return merged(current.tenant, current.agent);
}

export async function showPolicy(db: Database, tenantId: string, agentId?: string): Promise<PolicyView> {
  const tenant = requireTenant(tenantId);
  const agent = await requireAgent(db.pool, tenant, agentId);
  const tenantPolicy = await findCurrentPolicy(db.pool, tenant, null);
  const agentPolicy = agent === null ? undefined : await findCurrentPolicy(db.pool, tenant, agent);
  const day = utcDay(new Date());
  const today = { day, spentCents: await tenantDailySpend(db.pool, tenant, day) };
  return { tenant: tenantPolicy, agent: agentPolicy, effective: merged(tenantPolicy, agentPolicy), today };
}

/** Validates a policy document and stores it as the next version for the tenant (or one of its agents). */
export async function setPolicy(
  db: Database,
  input: { tenantId: string; agentId?: string | undefined; document: unknown; createdBy?: string | undefined },
): Promise<StoredPolicy> {
  const tenant = requireTenant(input.tenantId);
  const parsed = parsePolicyDocument(input.document, {
    knownSkills: listSkills().map((skill) => skill.name),
    scope: input.agentId === undefined ? "tenant" : "agent",
  });
  if (!parsed.ok) {
    throw new AppError("VALIDATION_ERROR", `invalid policy: ${formatIssues(parsed.issues)}`, { details: { issues: parsed.issues } });
  }
  const createdBy = input.createdBy === undefined ? null : personName(input.createdBy, "by", "VALIDATION_ERROR");
  try {
    await ensureTenant(db.pool, tenant);
    const agent = await requireAgent(db.pool, tenant, input.agentId);
    return await insertPolicyVersion(db.pool, {
      id: randomUUID(),
      tenantId: tenant,
      agentId: agent,
      document: parsed.policy,
      contentHash: sha256Hex(Buffer.from(canonicalJson(parsed.policy), "utf8")),
      createdBy,
    });
  } catch (error) {
    if (sqlstateOf(error) === SQLSTATE.UNIQUE_VIOLATION) {
      throw new AppError("CONFLICT", "another policy version was stored at the same moment; run the command again");
    }
    throw error;
  }
}
