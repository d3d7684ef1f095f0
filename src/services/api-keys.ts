import { createHash, randomBytes } from "node:crypto";
import { type Database, withTransaction } from "../db/database.js";
import {
  findApiKeyByHash,
  findTenantApiKeys,
  insertApiKey,
  setApiKeyRevoked,
  type StoredApiKey,
  touchApiKey,
} from "../db/queries/api-keys.js";
import { ensureTenant } from "../db/queries/tenants.js";
import { AppError } from "../errors.js";
import { requireTenant } from "./agents.js";

export type ApiKeyView = StoredApiKey;

/** A new key, the one time its secret exists outside the caller's hands. */
export interface CreatedApiKey {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  /** The whole key. Only its hash is stored: it cannot be shown again. */
  key: string;
  createdAt: Date;
}

export interface ApiKeyIdentity {
  tenantId: string;
  keyId: string;
}

// `aos_` + base64url (no padding) of 32 random bytes: 43 characters. The tag makes a leaked key recognisable to
// secret scanners and to people; the prefix shown in lists is the tag and the first 8 characters after it.
const KEY_TAG = "aos_";
const SECRET_BYTES = 32;
const KEY_FORMAT = /^aos_[A-Za-z0-9_-]{43}$/;
const PREFIX_LENGTH = KEY_TAG.length + 8;
const UUID_FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** SHA-256 of the whole key, hex: what api_keys.key_hash holds (migration 0011 says why a fast hash is right). */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function isWellFormedApiKey(key: string): boolean {
  return KEY_FORMAT.test(key);
}

/** Creates a key for the tenant (the tenant comes into being on first use, as everywhere else). */
export async function createApiKey(db: Database, input: { tenantId: string; name: string }): Promise<CreatedApiKey> {
  const tenantId = requireTenant(input.tenantId);
  const name = input.name.trim();
  if (name === "" || name.length > 100) throw new AppError("VALIDATION_ERROR", "an API key needs a name of 1 to 100 characters", { details: { field: "name" } });
  const key = KEY_TAG + randomBytes(SECRET_BYTES).toString("base64url");
  const stored = await withTransaction(db, async (client) => {
    await ensureTenant(client, tenantId);
    return insertApiKey(client, { tenantId, name, prefix: key.slice(0, PREFIX_LENGTH), keyHash: hashApiKey(key) });
  });
  return { id: stored.id, tenantId: stored.tenantId, name: stored.name, prefix: stored.prefix, key, createdAt: stored.createdAt };
}

export function listApiKeys(db: Database, tenantId: string): Promise<ApiKeyView[]> {
  return findTenantApiKeys(db.pool, requireTenant(tenantId));
}

/** Revokes one of the tenant's keys at once; revoking it again changes nothing. Another tenant's key is not found. */
export async function revokeApiKey(db: Database, tenantId: string, keyId: string): Promise<ApiKeyView> {
  const tenant = requireTenant(tenantId);
  const revoked = UUID_FORMAT.test(keyId) ? await setApiKeyRevoked(db.pool, tenant, keyId) : undefined;
  if (revoked === undefined) {
    throw new AppError("API_KEY_NOT_FOUND", `API key not found: ${keyId}`, { details: { key_id: keyId } });
  }
  return revoked;
}

/**
 * The tenant a presented key belongs to, or undefined for a malformed (refused without a query), unknown or
 * revoked key. Takes the owner database, not a tenant-scoped one: no tenant is known until the key is found.
 * Looking the key up by its hash compares hashes, never the secret, so response times say nothing about it.
 */
export async function authenticateApiKey(db: Database, presentedKey: string): Promise<ApiKeyIdentity | undefined> {
  if (!isWellFormedApiKey(presentedKey)) return undefined;
  const found = await findApiKeyByHash(db.pool, hashApiKey(presentedKey));
  if (found === undefined || found.revoked) return undefined;
  if (found.stale) await touchApiKey(db.pool, found.id);
  return { tenantId: found.tenantId, keyId: found.id };
}
