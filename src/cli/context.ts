import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { migrate } from "../db/migrate.js";
import { openDatabase } from "../db/open-database.js";
import { AppError } from "../errors.js";
import { isKnownTenant, requireKnownTenant, unknownTenant } from "../services/tenants.js";
import { createLogger, type Logger } from "../logger.js";
import type { Output } from "./output.js";

/** What every verb gets: configuration, where to write, the exit code it sets, and the tenant it names. */
export interface CliContext {
  readonly config: Config;
  readonly output: Output;
  exitCode: number;
  /** The tenant the verb's --tenant-id names, set before the verb runs (main.ts); withDatabase checks it. */
  tenant?: TenantUse | undefined;
}

/**
 * A tenant named on the command line. Tenants come into being on first use, so a misspelt one is checked here, by
 * what the verb does with it: `reads` refuses a tenant that does not exist (TENANT_NOT_FOUND, naming the known ones);
 * `previews` (simulate, capabilities, query: what a run would meet) goes on for a new tenant, and says so on stderr;
 * `creates` goes on, and says on stderr that it created the tenant.
 */
export interface TenantUse {
  id: string;
  use: "reads" | "previews" | "creates";
}

/** The flags every verb takes. */
export interface CommonFlags {
  json?: boolean;
  verbose?: boolean;
}

export function loggerFor(flags: CommonFlags): Logger {
  return createLogger(flags.verbose === true);
}

/**
 * Opens the configured database, applies pending migrations, checks the verb's tenant (CliContext.tenant), runs
 * `work`, and always closes it.
 */
export async function withDatabase<T>(ctx: CliContext, work: (db: Database) => Promise<T>, options = { migrate: true }): Promise<T> {
  const db = await openDatabase(ctx.config, { onWait: (message) => ctx.output.err(message) });
  try {
    if (options.migrate) await migrate(db);
    const tenant = ctx.tenant;
    if (tenant === undefined || !options.migrate) return await work(db);
    if (tenant.use === "reads") {
      await requireKnownTenant(db.pool, tenant.id);
      return await work(db);
    }
    const unknown = await unknownTenant(db.pool, tenant.id);
    if (unknown !== undefined && tenant.use === "previews") {
      ctx.output.err(`note: ${unknown}: this answers for a new tenant, with no agents, policy or spending yet`);
    }
    const result = await work(db);
    if (unknown !== undefined && tenant.use === "creates" && (await isKnownTenant(db.pool, tenant.id))) {
      ctx.output.err(`note: created tenant ${tenant.id}: it did not exist before this command`);
    }
    return result;
  } finally {
    await db.close();
  }
}

export function parseWholeNumber(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new AppError("USAGE", `${flag} must be a whole number >= 0, got "${raw}"`);
  }
  return value;
}
