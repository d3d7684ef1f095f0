import { chmodSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "../db/database.js";
import { AppError } from "../errors.js";
import { authenticateApiKey, createApiKey } from "../services/api-keys.js";

/**
 * `aos dev`'s API key: made once per AOS_HOME and tenant, kept in `<home>/dev-api-key.json` (mode 0600, like
 * the signing keys beside it) so every start prints the same key and a script written against it keeps
 * working. The file holds the key itself: AOS_HOME is the developer's own. A key that no longer authenticates
 * (revoked, another tenant's, the database replaced) is replaced by a new one.
 */
export interface DevApiKey {
  tenantId: string;
  key: string;
  /** Where the key is kept. */
  path: string;
  /** True when this start made it. */
  created: boolean;
}

interface StoredDevKey {
  tenant_id: string;
  key: string;
}

function readStored(path: string): StoredDevKey | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AppError("USAGE", `cannot read ${path}: ${(error as Error).message}; delete it and start again`);
  }
  try {
    const stored = JSON.parse(text) as Partial<StoredDevKey>;
    if (typeof stored.tenant_id === "string" && typeof stored.key === "string") return { tenant_id: stored.tenant_id, key: stored.key };
  } catch {
    // A damaged file is replaced below, like a revoked key.
  }
  return undefined;
}

export async function devApiKey(db: Database, home: string, tenantId: string): Promise<DevApiKey> {
  const path = join(home, "dev-api-key.json");
  const stored = readStored(path);
  if (stored !== undefined && stored.tenant_id === tenantId) {
    const identity = await authenticateApiKey(db, stored.key);
    if (identity?.tenantId === tenantId) return { tenantId, key: stored.key, path, created: false };
  }
  const created = await createApiKey(db, { tenantId, name: "aos dev" });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ tenant_id: tenantId, key: created.key }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return { tenantId, key: created.key, path, created: true };
}
