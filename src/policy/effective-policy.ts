import type { Queryable } from "../db/database.js";
import { findCurrentPolicies, type StoredPolicy } from "../db/queries/policies.js";
import { AppError } from "../errors.js";
import { formatIssues } from "../input-issues.js";
import { effectivePolicy, type EffectivePolicy, parsePolicyDocument, type PolicyDocument } from "./policy-document.js";

/** The policy a run of this agent is governed by: the tenant's current version narrowed by the agent's. */
export async function loadEffectivePolicy(db: Queryable, tenantId: string, agentId: string): Promise<EffectivePolicy> {
  const current = await findCurrentPolicies(db, tenantId, agentId);
  return mergedPolicy(current.tenant, current.agent);
}

// A stored version does not change, so a merged pair is computed once per process (validation, merging, hashing);
// the key holds the documents as read, so a row changed behind the validator's back is validated again.
const MERGED_CACHE_MAX = 1000;
const mergedCache = new Map<string, EffectivePolicy>();

/** The tenant's stored version narrowed by the agent's (either may be missing). */
export function mergedPolicy(tenant: StoredPolicy | undefined, agent: StoredPolicy | undefined): EffectivePolicy {
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
