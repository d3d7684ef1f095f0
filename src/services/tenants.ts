import type { Queryable } from "../db/database.js";
import { listTenantIds, tenantExists } from "../db/queries/tenants.js";
import { AppError } from "../errors.js";
import { requireTenant } from "./agents.js";

/** How many known tenants a TENANT_NOT_FOUND message names: the closest in spelling first. */
const SHOWN_TENANTS = 5;

/**
 * Tenants come into being on first use (a run, an agent, an API key, a policy), so a misspelt tenant would otherwise
 * read as an empty one: this is for the operator's verbs that only read, which refuse a tenant that does not exist
 * and name the known tenants closest in spelling. Never for the API, whose tenant comes from its key.
 */
export async function requireKnownTenant(db: Queryable, tenantId: string): Promise<void> {
  const unknown = await unknownTenant(db, tenantId);
  if (unknown === undefined) return;
  throw new AppError("TENANT_NOT_FOUND", unknown, { details: { field: "tenant_id", tenant_id: tenantId.trim() } });
}

/** Undefined for a tenant that exists; else what to tell the operator: that it does not, and the closest known ones. */
export async function unknownTenant(db: Queryable, tenantId: string): Promise<string | undefined> {
  const tenant = requireTenant(tenantId);
  if (await tenantExists(db, tenant)) return undefined;
  return `no such tenant "${tenant}" (${knownTenants(tenant, await listTenantIds(db))})`;
}

export async function isKnownTenant(db: Queryable, tenantId: string): Promise<boolean> {
  return tenantExists(db, requireTenant(tenantId));
}

function knownTenants(tenant: string, known: readonly string[]): string {
  if (known.length === 0) return "there are no tenants yet";
  const closest = [...known].sort((a, b) => editDistance(tenant, a) - editDistance(tenant, b) || a.localeCompare(b)).slice(0, SHOWN_TENANTS);
  const more = known.length - closest.length;
  return `known: ${closest.join(", ")}${more > 0 ? `, and ${more} more` : ""}`;
}

/** Levenshtein distance, in code points: how many single edits turn one id into the other. */
function editDistance(a: string, b: string): number {
  const from = [...a];
  const to = [...b];
  let previous = Array.from({ length: to.length + 1 }, (_, index) => index);
  for (const [i, char] of from.entries()) {
    const current = [i + 1];
    for (const [j, other] of to.entries()) {
      current.push(Math.min((previous[j + 1] ?? 0) + 1, (current[j] ?? 0) + 1, (previous[j] ?? 0) + (char === other ? 0 : 1)));
    }
    previous = current;
  }
  return previous[to.length] ?? 0;
}
