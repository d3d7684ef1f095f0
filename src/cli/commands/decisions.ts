import { Command } from "commander";
import { approveRun, cancelRun, rejectRun } from "../../services/run-decisions.js";
import { getRunDetail } from "../../services/runs.js";
import { loadKeyRing } from "../../trace/key-store.js";
import { executeOrAwait } from "../../worker/claim.js";
import { type CliContext, type CommonFlags, loggerFor, withDatabase } from "../context.js";
import { withInterrupt } from "../interrupt.js";
import { EXIT, runExitCode } from "../exit-codes.js";
import { printJson } from "../output.js";
import { runJson } from "../../views/run.js";
import { printRunSummary } from "../present-run.js";
import { noteUnworkedQueue } from "../queued-run-note.js";

interface DecisionFlags extends CommonFlags {
  tenantId: string;
  by?: string;
}

export function approveCommand(ctx: CliContext): Command {
  return new Command("approve")
    .description("approve the step a run waits at (pending_approval); it resumes there, in this process unless --no-wait")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .requiredOption("--by <name>", "who approves (recorded in the trace)")
    .option("--no-wait", "only re-queue the run; a worker or a later command executes it")
    .option("--json", "print the run as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: DecisionFlags & { wait: boolean }) => {
      await withDatabase(ctx, async (db) => {
        const keys = loadKeyRing(ctx.config);
        const run = await approveRun(db, keys, flags.tenantId, runId, flags.by);
        if (flags.wait) {
          await withInterrupt(ctx, run.id, (interrupt) => {
            const deps = { db, config: ctx.config, log: loggerFor(flags), keys, stop: interrupt.stop };
            return executeOrAwait(deps, run.tenantId, run.id, `cli-${process.pid}`, interrupt.signal);
          });
        }
        const detail = await getRunDetail(db, ctx.config, run.tenantId, run.id);
        if (flags.json) printJson(ctx.output, runJson(detail));
        else printRunSummary(ctx.output, detail);
        if (!flags.wait) await noteUnworkedQueue(ctx, db, detail.run);
        ctx.exitCode = flags.wait ? runExitCode(detail.run.status) : EXIT.ok;
      });
    });
}

export function rejectCommand(ctx: CliContext): Command {
  return new Command("reject")
    .description("reject the step a run waits at (pending_approval): recorded in the trace, and the run ends halted")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .requiredOption("--by <name>", "who rejects (recorded in the trace)")
    .option("--json", "print the run as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: DecisionFlags) => {
      await withDatabase(ctx, async (db) => {
        await rejectRun(db, loadKeyRing(ctx.config), flags.tenantId, runId, flags.by, ctx.config.leaseMs);
        const detail = await getRunDetail(db, ctx.config, flags.tenantId, runId);
        if (flags.json) printJson(ctx.output, runJson(detail));
        else printRunSummary(ctx.output, detail);
      });
    });
}

export function cancelCommand(ctx: CliContext): Command {
  return new Command("cancel")
    .description("cancel a run between steps: a waiting run ends at once, a running one after its current step")
    .argument("<run_id>", "the run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("--json", "print the outcome as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (runId: string, flags: DecisionFlags) => {
      const outcome = await withDatabase(ctx, (db) => cancelRun(db, loadKeyRing(ctx.config), flags.tenantId, runId, ctx.config.leaseMs));
      if (flags.json) return printJson(ctx.output, { run_id: runId, outcome });
      ctx.output.out(
        outcome === "cancelled"
          ? `Run ${runId} cancelled; its trace is aborted.`
          : `Run ${runId} is executing; it will stop after its current step.`,
      );
    });
}
