import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { migrate } from "../db/migrate.js";
import { openDatabase } from "../db/open-database.js";
import { AppError } from "../errors.js";
import { createLogger, type Logger } from "../logger.js";
import type { Output } from "./output.js";

/** What every verb gets: configuration, where to write, and the exit code it sets. */
export interface CliContext {
  readonly config: Config;
  readonly output: Output;
  exitCode: number;
}

/** The flags every verb takes. */
export interface CommonFlags {
  json?: boolean;
  verbose?: boolean;
}

export function loggerFor(flags: CommonFlags): Logger {
  return createLogger(flags.verbose === true);
}

/** Opens the configured database, applies pending migrations, runs `work`, and always closes it. */
export async function withDatabase<T>(ctx: CliContext, work: (db: Database) => Promise<T>, options = { migrate: true }): Promise<T> {
  const db = await openDatabase(ctx.config, { onWait: (message) => ctx.output.err(message) });
  try {
    if (options.migrate) await migrate(db);
    return await work(db);
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
