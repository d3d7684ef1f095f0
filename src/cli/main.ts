import { Command, CommanderError } from "commander";
import { loadConfig } from "../config.js";
import { toAppError } from "../errors.js";
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
import { EXIT } from "./exit-codes.js";
import { type Output, processOutput } from "./output.js";
import { errorExitCode, printError } from "./report-error.js";

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
  return { id: tenantId, use: TENANT_USES[commandPath(action).replace(/^aos /, "")] ?? "reads" };
}

/** Every verb of the CLI, nested ones (`aos policy set`) included. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("aos")
    .description("AOS: governed agent runs on PostgreSQL, with signed, offline-verifiable proofs")
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
    program.addCommand(command);
  }
  reportParseErrors(program, ctx.output);
  return program;
}

/**
 * Commander reports a bad command line itself (`error: unknown option '--x'`); every command, nested ones too (which
 * `addCommand` does not give their parent's settings), then prints a hint as any other error does, writes where the
 * CLI writes, and returns to `main` (exit 2) rather than exiting the process.
 */
function reportParseErrors(command: Command, output: Output): void {
  command
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text.trimEnd()), writeErr: (text) => output.err(text.trimEnd()) })
    .showHelpAfterError(`hint: Run \`${commandPath(command)} --help\` for usage.`);
  for (const sub of command.commands) reportParseErrors(sub, output);
}

/** A command as it is typed: `aos policy set`. */
function commandPath(command: Command): string {
  return command.parent === null ? command.name() : `${commandPath(command.parent)} ${command.name()}`;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code; never throws. */
export async function main(argv: string[], output?: Output): Promise<number> {
  const verbose = argv.includes("-v") || argv.includes("--verbose");
  let out = output ?? processOutput(false);
  let verb: string | undefined;
  try {
    const config = loadConfig();
    out = output ?? processOutput(config.noColor);
    const ctx: CliContext = { config, output: out, exitCode: EXIT.ok };
    const program = buildProgram(ctx).hook("preAction", (_program, action) => {
      verb = commandPath(action).replace(/^aos /, "");
    });
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    return reportError(out, error, verbose, verb);
  }
}

function reportError(output: Output, error: unknown, verbose: boolean, verb: string | undefined): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message and our hint already; help and --version are not errors.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const appError = toAppError(error);
  printError(output, appError, verb);
  if (verbose && error instanceof Error && error.stack) output.err(error.stack);
  return errorExitCode(appError);
}
