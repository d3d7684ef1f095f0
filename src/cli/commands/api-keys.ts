import { Command } from "commander";
import { type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from "../../services/api-keys.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson, table } from "../output.js";

interface TenantFlags extends CommonFlags {
  tenantId: string;
}

function keyJson(key: ApiKeyView): Record<string, unknown> {
  return {
    id: key.id,
    tenant_id: key.tenantId,
    name: key.name,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

export function apiKeysCommand(ctx: CliContext): Command {
  const apiKeys = new Command("api-keys").description("create, list and revoke the API keys a tenant's HTTP API clients authenticate with");
  apiKeys.addCommand(
    new Command("create")
      .description("create an API key for a tenant; the key is shown once, only its hash is stored")
      .requiredOption("--tenant-id <id>", "the tenant the key acts for")
      .requiredOption("-n, --name <name>", "what the key is for, so people can tell keys apart (1 to 100 characters)")
      .option("--json", "print the key as JSON")
      .option("-v, --verbose", "show stack traces on errors")
      .action(async (flags: TenantFlags & { name: string }) => {
        const created = await withDatabase(ctx, (db) => createApiKey(db, { tenantId: flags.tenantId, name: flags.name }));
        if (flags.json) {
          const { key, ...shown } = created;
          return printJson(ctx.output, { ...keyJson({ ...shown, revokedAt: null, lastUsedAt: null }), key });
        }
        ctx.output.out(`Created API key ${created.id} (${created.name}) for tenant ${created.tenantId}:`);
        ctx.output.out("");
        ctx.output.out(`  ${created.key}`);
        ctx.output.out("");
        ctx.output.out("Store it now: it cannot be shown again (AOS keeps only its hash). Send it as `Authorization: Bearer <key>`.");
      }),
  );
  apiKeys.addCommand(
    new Command("list")
      .description("list a tenant's API keys (names and prefixes, never the keys), revoked ones included")
      .requiredOption("--tenant-id <id>", "the tenant")
      .option("--json", "print the keys as JSON")
      .option("-v, --verbose", "show stack traces on errors")
      .action(async (flags: TenantFlags) => {
        const keys = await withDatabase(ctx, (db) => listApiKeys(db, flags.tenantId));
        if (flags.json) return printJson(ctx.output, keys.map(keyJson));
        if (keys.length === 0) return ctx.output.out(`No API keys for tenant ${flags.tenantId}.`);
        const rows = keys.map((key) => [
          key.id,
          key.name,
          `${key.prefix}…`,
          key.createdAt.toISOString(),
          key.lastUsedAt?.toISOString() ?? "never",
          key.revokedAt === null ? "active" : `revoked ${key.revokedAt.toISOString()}`,
        ]);
        for (const line of table([["KEY", "NAME", "PREFIX", "CREATED", "LAST USED", "STATUS"], ...rows])) ctx.output.out(line);
      }),
  );
  apiKeys.addCommand(
    new Command("revoke")
      .description("revoke one of a tenant's API keys: requests with it are refused from now on")
      .argument("<key_id>", "the key's id, as `aos api-keys list` shows it")
      .requiredOption("--tenant-id <id>", "the tenant that owns the key")
      .option("--json", "print the revoked key as JSON")
      .option("-v, --verbose", "show stack traces on errors")
      .action(async (keyId: string, flags: TenantFlags) => {
        const key = await withDatabase(ctx, (db) => revokeApiKey(db, flags.tenantId, keyId));
        if (flags.json) return printJson(ctx.output, keyJson(key));
        ctx.output.out(`Revoked API key ${key.id} (${key.name}, ${key.prefix}…) of tenant ${key.tenantId} at ${key.revokedAt?.toISOString()}.`);
      }),
  );
  return apiKeys;
}
