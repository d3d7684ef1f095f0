import { Command } from "commander";
import { afterAll, beforeAll, expect, it } from "vitest";
import { apiKeysCommand } from "../src/cli/commands/api-keys.js";
import type { CliContext } from "../src/cli/context.js";
import type { Output } from "../src/cli/output.js";
import type { Database } from "../src/db/database.js";
import { tenantScoped } from "../src/db/tenant-scope.js";
import { authenticateApiKey, createApiKey, hashApiKey, listApiKeys, revokeApiKey } from "../src/services/api-keys.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { testConfig } from "./support/harness.js";

// API keys (migration 0011, src/services/api-keys.ts, `aos api-keys`): shown once, stored as a hash, listed by
// name and prefix, revoked for good; authentication finds the tenant from the key alone.

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (text) => void lines.push(text), err: (text) => void lines.push(text), isTty: false, color: false };
}

/** A database whose every query fails: proof that a call made none. */
function unreachable(db: Database): Database {
  const pool = new Proxy(db.pool, {
    get: (target, property) => (property === "query" || property === "connect" ? () => Promise.reject(new Error("no query expected")) : Reflect.get(target, property)),
  });
  return { ...db, pool };
}

async function lastUsed(db: Database, keyId: string): Promise<Date | null> {
  const { rows } = await db.pool.query<{ last_used_at: Date | null }>("select last_used_at from api_keys where id = $1", [keyId]);
  return rows[0]?.last_used_at ?? null;
}

describeOnBackends("API keys on $name", (backend) => {
  let db: TestDatabase;
  let tenantCount = 0;
  const newTenant = () => `t-keys-${backend.name}-${++tenantCount}`;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("creates a key shown once, lists it by name and prefix, and authenticates it to its tenant", async () => {
    const tenantId = newTenant();
    const created = await createApiKey(db, { tenantId, name: "  deploy bot " });
    expect(created).toMatchObject({ tenantId, name: "deploy bot", prefix: created.key.slice(0, 12) });
    expect(created.key).toMatch(/^aos_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(created.key.slice(4), "base64url")).toHaveLength(32);

    const listed = await listApiKeys(db, tenantId);
    expect(listed).toEqual([{ id: created.id, tenantId, name: "deploy bot", prefix: created.prefix, createdAt: created.createdAt, revokedAt: null, lastUsedAt: null }]);
    expect(JSON.stringify(listed)).not.toContain(created.key.slice(12));

    expect(await authenticateApiKey(db, created.key)).toEqual({ tenantId, keyId: created.id });
    const firstUse = await lastUsed(db, created.id);
    expect(firstUse).toBeInstanceOf(Date);
    // Used again within the minute: no write.
    await authenticateApiKey(db, created.key);
    expect(await lastUsed(db, created.id)).toEqual(firstUse);
    await db.pool.query("update api_keys set last_used_at = now() - interval '2 minutes' where id = $1", [created.id]);
    await authenticateApiKey(db, created.key);
    expect((await lastUsed(db, created.id))!.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it("rejects malformed keys without a query, and unknown and revoked keys", async () => {
    const tenantId = newTenant();
    const created = await createApiKey(db, { tenantId, name: "short-lived" });
    for (const malformed of ["", "aos_", "Bearer " + created.key, `${created.key} `, created.key.slice(0, -1), `xyz_${created.key.slice(4)}`, "aos_" + "!".repeat(43)]) {
      expect(await authenticateApiKey(unreachable(db), malformed)).toBeUndefined();
    }
    expect(await authenticateApiKey(db, `aos_${"A".repeat(43)}`)).toBeUndefined();

    const revoked = await revokeApiKey(db, tenantId, created.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await authenticateApiKey(db, created.key)).toBeUndefined();
    // Revoking twice is fine and keeps the first time.
    expect((await revokeApiKey(db, tenantId, created.id)).revokedAt).toEqual(revoked.revokedAt);
    expect((await listApiKeys(db, tenantId))[0]?.revokedAt).toEqual(revoked.revokedAt);
  });

  it("keeps tenants apart: another tenant's key is not found, not listed, not revocable", async () => {
    const [mine, theirs] = [newTenant(), newTenant()];
    const key = await createApiKey(db, { tenantId: theirs, name: "theirs" });
    await expect(revokeApiKey(db, mine, key.id)).rejects.toMatchObject({ code: "API_KEY_NOT_FOUND", httpStatus: 404 });
    await expect(revokeApiKey(db, mine, "not-a-uuid")).rejects.toMatchObject({ code: "API_KEY_NOT_FOUND" });
    expect(await listApiKeys(db, mine)).toEqual([]);
    // Through a scoped database, even asking for the other tenant shows nothing (row-level security).
    const scoped = tenantScoped(db, mine);
    const own = await createApiKey(scoped, { tenantId: mine, name: "mine" });
    expect((await listApiKeys(scoped, mine)).map((k) => k.id)).toEqual([own.id]);
    expect(await listApiKeys(scoped, theirs)).toEqual([]);
    await expect(revokeApiKey(scoped, theirs, key.id)).rejects.toMatchObject({ code: "API_KEY_NOT_FOUND" });
    expect(await authenticateApiKey(db, key.key)).toEqual({ tenantId: theirs, keyId: key.id });
  });

  it("validates the name and the tenant", async () => {
    await expect(createApiKey(db, { tenantId: newTenant(), name: " " })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(createApiKey(db, { tenantId: newTenant(), name: "n".repeat(101) })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(createApiKey(db, { tenantId: " ", name: "x" })).rejects.toMatchObject({ code: "TENANT_REQUIRED" });
  });

  it("stores no secret anywhere: only the hash is in the database", async () => {
    const created = await createApiKey(db, { tenantId: newTenant(), name: "secret keeper" });
    await authenticateApiKey(db, created.key);
    const secret = created.key.slice(12);
    const tables = await db.pool.query<{ relname: string }>("select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'");
    for (const { relname } of tables.rows) {
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from ${relname} t where strpos(t::text, $1) > 0`, [secret]);
      expect({ relname, n: rows[0]?.n }).toEqual({ relname, n: 0 });
    }
    const { rows } = await db.pool.query("select key_hash from api_keys where id = $1", [created.id]);
    expect(rows).toEqual([{ key_hash: hashApiKey(created.key) }]);
  });
});

describeOnBackends("aos api-keys on $name", (backend) => {
  let db: TestDatabase | undefined;
  let config: ReturnType<typeof testConfig>;

  beforeAll(async () => {
    // The server: a test database of its own; PGlite: the embedded database in a fresh AOS_HOME, as a user has.
    db = backend.name === "server" ? await backend.open() : undefined;
    config = db?.url === undefined ? testConfig() : testConfig({ DATABASE_URL: db.url });
  });
  afterAll(async () => db?.close());

  async function aos(...argv: string[]): Promise<string[]> {
    const output = capture();
    const ctx: CliContext = { config, output, exitCode: 0 };
    await new Command("aos").exitOverride().addCommand(apiKeysCommand(ctx)).parseAsync(["api-keys", ...argv], { from: "user" });
    return output.lines;
  }

  it("creates (showing the key once), lists and revokes, in words and in JSON", async () => {
    const shown = await aos("create", "--tenant-id", "acme", "--name", "ci");
    const key = shown.find((line) => line.trim().startsWith("aos_"))?.trim() ?? "";
    expect(key).toMatch(/^aos_[A-Za-z0-9_-]{43}$/);
    expect(shown[0]).toMatch(/^Created API key [0-9a-f-]{36} \(ci\) for tenant acme:$/);
    expect(shown.at(-1)).toContain("it cannot be shown again");

    const json = JSON.parse((await aos("create", "--tenant-id", "acme", "--name", "bot", "--json")).join("\n")) as Record<string, string>;
    expect(json).toMatchObject({ tenant_id: "acme", name: "bot", prefix: json.key?.slice(0, 12), revoked_at: null, last_used_at: null });

    const listed = JSON.parse((await aos("list", "--tenant-id", "acme", "--json")).join("\n")) as Record<string, unknown>[];
    expect(listed.map((entry) => entry.name)).toEqual(["ci", "bot"]);
    expect(JSON.stringify(listed)).not.toContain(key.slice(12));
    expect(listed[0]).not.toHaveProperty("key");
    const table = await aos("list", "--tenant-id", "acme");
    expect(table[0]).toMatch(/^KEY\s+NAME\s+PREFIX\s+CREATED\s+LAST USED\s+STATUS$/);
    expect(table[1]).toMatch(new RegExp(`^${listed[0]?.id as string}\\s+ci\\s+${key.slice(0, 12)}…\\s+\\S+\\s+never\\s+active$`));

    const revoked = await aos("revoke", json.id as string, "--tenant-id", "acme");
    expect(revoked[0]).toMatch(new RegExp(`^Revoked API key ${json.id as string} \\(bot, ${json.prefix as string}…\\) of tenant acme at \\d{4}-`));
    expect((await aos("list", "--tenant-id", "acme")).at(-1)).toMatch(/\s+revoked \d{4}-\S+$/);
    expect(await aos("list", "--tenant-id", "nobody")).toEqual(["No API keys for tenant nobody."]);
    await expect(aos("revoke", json.id as string, "--tenant-id", "someone-else")).rejects.toMatchObject({ code: "API_KEY_NOT_FOUND" });
  });
});
