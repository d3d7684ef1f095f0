import { Command } from "commander";
import { migrate, migrationStatus } from "../../db/migrate.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";

export function migrateCommand(ctx: CliContext): Command {
  return new Command("migrate")
    .description("apply pending database migrations (they are also applied on every start)")
    .option("--status", "show the applied head and pending migrations without applying anything")
    .option("--json", "print the result as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { status?: boolean }) => {
      await withDatabase(
        ctx,
        async (db) => {
          const applied = flags.status ? [] : await migrate(db);
          const status = await migrationStatus(db);
          if (flags.json) {
            return printJson(ctx.output, {
              database: db.location,
              head: status.head,
              latest: status.latest,
              applied_now: applied,
              pending: status.pending.map((migration) => migration.id),
            });
          }
          ctx.output.out(`database: ${db.location}`);
          if (!flags.status) ctx.output.out(applied.length === 0 ? "nothing to apply" : `applied: ${applied.join(", ")}`);
          ctx.output.out(`head: ${status.head} of ${status.latest}`);
          for (const migration of status.pending) ctx.output.out(`pending: ${migration.id} ${migration.name}`);
        },
        { migrate: false },
      );
    });
}
