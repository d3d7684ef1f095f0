import { randomUUID } from "node:crypto";
import type { Database, Queryable } from "../db/database.js";
import { tenantDailySpend, utcDay } from "../db/queries/budgets.js";
import { findCurrentPolicy, insertPolicyVersion, type StoredPolicy } from "../db/queries/policies.js";
import { ensureTenant } from "../db/queries/tenants.js";
import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
import { AppError } from "../errors.js";
import { formatIssues } from "../input-issues.js";
import { personName } from "../input-text.js";
import { mergedPolicy } from "../policy/effective-policy.js";
import { type EffectivePolicy, parsePolicyDocument } from "../policy/policy-document.js";
import { listSkills } from "../skills/registry.js";
import { canonicalJson } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";
import { requireAgentByRef, requireTenant } from "./agents.js";

export interface PolicyView {
  tenant: StoredPolicy | undefined;
  agent: StoredPolicy | undefined;
  effective: EffectivePolicy;
  /** What the tenant has spent today (UTC), against the daily cap in `effective` when one is set. */
  today: { day: string; spentCents: number };
}

/** The id of the agent `agentRef` names (by id or name), or null for the tenant's own policy. */
async function requireAgent(db: Queryable, tenantId: string, agentRef: string | undefined): Promise<string | null> {
  if (agentRef === undefined) return null;
  return (await requireAgentByRef(db, tenantId, agentRef)).id;
}

export async function showPolicy(db: Database, tenantId: string, agentId?: string): Promise<PolicyView> {
  const tenant = requireTenant(tenantId);
  const agent = await requireAgent(db.pool, tenant, agentId);
  const tenantPolicy = await findCurrentPolicy(db.pool, tenant, null);
  const agentPolicy = agent === null ? undefined : await findCurrentPolicy(db.pool, tenant, agent);
  const day = utcDay(new Date());
  const today = { day, spentCents: await tenantDailySpend(db.pool, tenant, day) };
  return { tenant: tenantPolicy, agent: agentPolicy, effective: mergedPolicy(tenantPolicy, agentPolicy), today };
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
