import { Command, Option } from "commander";
import { AppError } from "../../errors.js";
import { type ActorType, isTerminal, type Run } from "../../glossary.js";
import { createRun, DEFAULT_ORIGIN_SYSTEM_ID, getRunDetail } from "../../services/runs.js";
import { loadKeyRing } from "../../trace/key-store.js";
import { executeOrAwait } from "../../worker/claim.js";
import { type CliContext, type CommonFlags, loggerFor, withDatabase } from "../context.js";
import { withInterrupt } from "../interrupt.js";
import { EXIT, runExitCode } from "../exit-codes.js";
import { printJson } from "../output.js";
import { readPlanFile } from "../read-json-file.js";
import { isUsageError, printError } from "../report-error.js";
import { type RunDetail, runJson } from "../../views/run.js";
import { printRunSummary } from "../present-run.js";
import { noteUnworkedQueue } from "../queued-run-note.js";
import { printRunProgress } from "../run-progress.js";
import type { Database } from "../../db/database.js";

interface RunFlags extends CommonFlags {
  tenantId: string;
  agentId?: string;
  goal: string;
  originSystemId: string;
  actorType: ActorType;
  actorId?: string;
  plan?: string;
  wait: boolean;
}

export function runCommand(ctx: CliContext): Command {
  return new Command("run")
    .description("create a run for a goal, plan it, execute it, and print the finished run")
    .requiredOption("--tenant-id <id>", "the tenant that owns the run")
    .option("-a, --agent-id <agent>", "the agent, by id or name (default: the tenant's default agent, created on first use)")
    .requiredOption("-g, --goal <text>", "what the run should achieve")
    .option("--origin-system-id <id>", "who asked for the run", DEFAULT_ORIGIN_SYSTEM_ID)
    .addOption(new Option("--actor-type <type>", "who acts").choices(["HUMAN", "SYSTEM", "SERVICE"]).default("SYSTEM"))
    .option("--actor-id <id>", "the acting person (required with --actor-type HUMAN)")
    .option("--plan <file>", 'an explicit plan: {"steps":[{"step_id","skill","params",...}]}')
    .option("--no-wait", "create and queue the run, print it, and return without executing it")
    .option("--json", "print the run as JSON")
    .option("-v, --verbose", "log to stderr, and show stack traces on errors")
    .action(async (flags: RunFlags) => {
      const plan = flags.plan === undefined ? undefined : readPlanFile(flags.plan);
      await withDatabase(ctx, async (db) => {
        const keys = loadKeyRing(ctx.config);
        let run: Run;
        try {
          run = await createRun({ db, config: ctx.config, keys }, {
            tenantId: flags.tenantId,
            agentId: flags.agentId,
            goal: flags.goal,
            originSystemId: flags.originSystemId,
            actorType: flags.actorType,
            actorId: flags.actorId,
            plan,
          });
        } catch (error) {
          // Only a planner's failed plan was recorded; an explicit plan that does not validate is a usage error.
          if (!(error instanceof AppError) || error.code !== "PLAN_INVALID" || isUsageError(error)) throw error;
          return reportPlanFailure(ctx, flags, error, (runId) => getRunDetail(db, ctx.config, flags.tenantId, runId));
        }
        let interrupted = false;
        if (flags.wait) {
          const live = ctx.output.isTty && flags.json !== true;
          if (live) ctx.output.out(`Run ${run.id} queued; executing ${run.plan?.steps.length ?? 0} step(s)`);
          const queued = run;
          interrupted = await withInterrupt(ctx, run.id, async (interrupt) => {
            const deps = { db, config: ctx.config, log: loggerFor(flags), keys, stop: interrupt.stop };
            const executed = executeOrAwait(deps, queued.tenantId, queued.id, `cli-${process.pid}`, interrupt.signal);
            await (live ? whileShowingProgress(ctx, db, queued, executed) : executed);
            return interrupt.interrupted();
          });
        }
        const detail = await getRunDetail(db, ctx.config, run.tenantId, run.id);
        if (flags.json) printJson(ctx.output, runJson(detail));
        else printRunSummary(ctx.output, detail, { steps: !(flags.wait && ctx.output.isTty) });
        if (interrupted && !isTerminal(detail.run.status)) {
          ctx.output.err(
            `run ${run.id} is ${detail.run.status}: ${detail.run.status === "queued" ? "handed back to the queue; " : ""}` +
              `an \`aos worker\` resumes it where it stopped, \`aos cancel ${run.id} --tenant-id ${run.tenantId}\` ends it`,
          );
          ctx.exitCode = EXIT.interrupted;
        } else if (flags.wait) ctx.exitCode = runExitCode(detail.run.status);
        else {
          await noteUnworkedQueue(ctx, db, detail.run);
          // Queued, or already taken by a live worker: the run was made. Only one that ended badly (already) fails.
          ctx.exitCode = isTerminal(detail.run.status) && detail.run.status !== "succeeded" ? EXIT.failure : EXIT.ok;
        }
      });
    });
}

/**
 * Prints the run's events from the database while it executes (here, or in a worker), then, once it has settled,
 * what was recorded up to then. An error of the execution wins over one of the progress.
 */
async function whileShowingProgress(ctx: CliContext, db: Database, run: Run, executed: Promise<void>): Promise<void> {
  const settled = new AbortController();
  // Caught at once: a progress that fails while the run still executes must not end the process before it settles.
  let failure: { error: unknown } | undefined;
  const shown = printRunProgress(ctx.output, db.pool, run, { header: false, stop: settled.signal }).catch((error: unknown) => {
    failure = { error };
  });
  try {
    await executed;
  } finally {
    settled.abort();
    await shown;
  }
  if (failure !== undefined) throw failure.error;
}

/** The planner's plan failed and the run exists (recorded failed): --json prints it with the plan's issues; people get the error. */
async function reportPlanFailure(
  ctx: CliContext,
  flags: RunFlags,
  error: AppError,
  detailOf: (runId: string) => Promise<RunDetail>,
): Promise<void> {
  ctx.exitCode = EXIT.failure;
  const runId = error.details?.run_id;
  if (typeof runId !== "string") throw error;
  if (flags.json) {
    printJson(ctx.output, { ...runJson(await detailOf(runId)), plan_issues: error.details?.issues ?? [] });
    return;
  }
  printError(ctx.output, error, "run");
  ctx.output.err(`run ${runId} was recorded as failed; \`aos get-run ${runId} --tenant-id ${flags.tenantId}\` shows it`);
}
