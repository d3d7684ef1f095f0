import { Command, CommanderError } from "commander";
import { loadConfig } from "../config.js";
import { AppError, toAppError } from "../errors.js";
import { createAgentCommand, listAgentsCommand, updateAgentCommand } from "./commands/agents.js";
import { apiKeysCommand } from "./commands/api-keys.js";
import { calendarCommand } from "./commands/calendar.js";
import { approveCommand, cancelCommand, rejectCommand } from "./commands/decisions.js";
import { keysCommand } from "./commands/keys.js";
import { auditCommand, logCommand } from "./commands/log.js";
import { exportTilesCommand } from "./commands/log-tiles.js";
import { migrateCommand } from "./commands/migrate.js";
import { policyCommand } from "./commands/policy.js";
import { devCommand } from "./commands/dev.js";
import { evidenceCommand, incidentsCommand } from "./commands/records.js";
import { exportProofCommand, proofCommand, proveStepCommand } from "./commands/proof.js";
import { pruneCommand } from "./commands/prune.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { capabilitiesCommand, queryCommand, simulateCommand } from "./commands/runtime.js";
import { getRunCommand, listRunsCommand } from "./commands/runs.js";
import { listSkillsCommand, skillCommand } from "./commands/skills.js";
import { verifyCommand, verifyStepCommand } from "./commands/verify.js";
import { witnessCommand } from "./commands/witness.js";
import { workerCommand } from "./commands/worker.js";
import { checkArguments } from "./check-arguments.js";
import type { CliContext, TenantUse } from "./context.js";
import { cliHint, cliMessage } from "./error-wording.js";
import { EXIT } from "./exit-codes.js";
import { type Output, paint, printable, processOutput } from "./output.js";


const USAGE_CODES = new Set(["USAGE", "VALIDATION_ERROR", "TENANT_REQUIRED", "PLAN_FILE_INVALID"]);

/**
 * What the verbs do with a --tenant-id that names no tenant yet (TenantUse in context.ts). Those that write create it
 * (the README's first `aos run` does); those that say what a run would meet answer for a new tenant, with a note;
 * every other verb reads stored records, and refuses it.
 */
const TENANT_USES: Readonly<Record<string, TenantUse["use"]>> = {
  run: "creates",
  "create-agent": "creates",
  "api-keys create": "creates",
  "policy set": "creates",
  simulate: "previews",
  capabilities: "previews",
  query: "previews",
};

/** The tenant a verb names with --tenant-id, if any, and what the verb does with it. */
function tenantUseOf(action: Command): TenantUse | undefined {
  const tenantId: unknown = action.opts().tenantId;
  if (typeof tenantId !== "string") return undefined;
  const names: string[] = [];
  for (let command: Command | null = action; command !== null && command.parent !== null; command = command.parent) names.unshift(command.name());
  return { id: tenantId, use: TENANT_USES[names.join(" ")] ?? "reads" };
}

function buildProgram(ctx: CliContext): Command {
  const program = new Command("aos")
    .description("AOS: governed agent runs on PostgreSQL, with signed, offline-verifiable proofs")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: (text) => ctx.output.out(text.trimEnd()), writeErr: (text) => ctx.output.err(text.trimEnd()) })
    .hook("preAction", (_program, action) => {
      checkArguments(action);
      ctx.tenant = tenantUseOf(action);
    });
  for (const command of [
    runCommand(ctx),
    workerCommand(ctx),
    serveCommand(ctx),
    devCommand(ctx),
    apiKeysCommand(ctx),
    createAgentCommand(ctx),
    updateAgentCommand(ctx),
    listAgentsCommand(ctx),
    getRunCommand(ctx),
    listRunsCommand(ctx),
    listSkillsCommand(ctx),
    skillCommand(ctx),
    simulateCommand(ctx),
    capabilitiesCommand(ctx),
    queryCommand(ctx),
    migrateCommand(ctx),
    proofCommand(ctx),
    exportProofCommand(ctx),
    verifyCommand(ctx),
    proveStepCommand(ctx),
    verifyStepCommand(ctx),
    pruneCommand(ctx),
    keysCommand(ctx),
    logCommand(ctx, [exportTilesCommand(ctx)]),
    auditCommand(ctx),
    policyCommand(ctx),
    incidentsCommand(ctx),
    evidenceCommand(ctx),
    calendarCommand(ctx),
    approveCommand(ctx),
    rejectCommand(ctx),
    cancelCommand(ctx),
    witnessCommand(ctx),
  ]) {
    program.addCommand(command.exitOverride().showHelpAfterError(`(run aos ${command.name()} --help for usage)`));
  }
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code; never throws. */
export async function main(argv: string[], output?: Output): Promise<number> {
  const verbose = argv.includes("-v") || argv.includes("--verbose");
  let out = output ?? processOutput(false);
  try {
    const config = loadConfig();
    out = output ?? processOutput(config.noColor);
    const ctx: CliContext = { config, output: out, exitCode: EXIT.ok };
    await buildProgram(ctx).parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    return reportError(out, error, verbose);
  }
}

function reportError(output: Output, error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message already; help and --version are not errors.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const appError = toAppError(error);
  output.err(`${paint(output, "red", "error:")} ${printable(cliMessage(appError))}`);
  const hint = cliHint(appError.code);
  if (hint !== "" && (appError.code !== "INTERNAL" || !verbose)) output.err(`hint: ${hint}`);
  if (verbose && error instanceof Error && error.stack) output.err(error.stack);
  return error instanceof AppError && USAGE_CODES.has(appError.code) ? EXIT.usage : EXIT.failure;
}
