import { Command } from "commander";
import { agentCapabilities, type CapabilitiesReport } from "../../services/capabilities.js";
import { QUERY_TYPES, runtimeQuery } from "../../services/runtime-query.js";
import { type SimulationReport, simulatePlan, type StepRisk } from "../../services/simulate.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { paint, printJson, table } from "../output.js";
import { readPlanFile } from "../read-json-file.js";
import { EXIT } from "../exit-codes.js";

// The runtime questions an agent asks before and between runs: what would this plan do, what may I do, and what
// have I done. All read-only.

interface SimulateFlags extends CommonFlags {
  plan: string;
  tenantId?: string;
  agentId?: string;
  budgetCents?: string;
}

export function simulateCommand(ctx: CliContext): Command {
  return new Command("simulate")
    .description("dry-run a plan: estimated cost and latency per step, policy decisions, budget sufficiency, risks (exit 1 when not feasible)")
    .requiredOption("--plan <file>", 'the plan: {"steps":[{"step_id","skill","params",...}]}')
    .option("--tenant-id <id>", "decide with this tenant's policy, budget and history (default: the default policy, no budget)")
    .option("-a, --agent-id <agent>", "the agent, by id or name (default: the tenant's default agent)")
    .option("--budget-cents <n>", "what if the agent had this much budget left (instead of its real remaining budget)")
    .option("--json", "print the report as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: SimulateFlags) => {
      const plan = readPlanFile(flags.plan);
      const budgetCents = parseWholeNumber("--budget-cents", flags.budgetCents);
      const report = await withDatabase(ctx, (db) =>
        simulatePlan(db, ctx.config, { plan, tenantId: flags.tenantId, agentId: flags.agentId, budgetCents }),
      );
      if (!report.feasible) ctx.exitCode = EXIT.failure;
      if (flags.json) return printJson(ctx.output, report);
      printSimulation(ctx, report);
    });
}

function printSimulation(ctx: CliContext, report: SimulationReport): void {
  const out = ctx.output;
  const verdict = report.feasible ? paint(out, "green", "feasible") : paint(out, "red", `NOT feasible (${report.status})`);
  const approvals = report.approvals_required.length;
  out.out(`Simulation: ${verdict}${approvals > 0 ? `, ${approvals} step${approvals > 1 ? "s" : ""} need approval` : ""}`);
  if (report.halt !== null) out.out(`  the run would stop at step ${report.halt.step_id}: ${report.halt.reason}`);
  for (const issue of report.plan_issues) out.out(`  plan: ${issue.path}: ${issue.message} (${issue.code})`);
  const budget = report.budget;
  out.out(`  policy ${report.policy.id} (${report.policy.hash.slice(0, 12)})`);
  out.out(
    `  budget: agent ${cents(budget.agent_remaining_cents)} left${budget.source === "flag" ? " (--budget-cents)" : ""}, ` +
      `tenant day ${cents(budget.tenant_day_remaining_cents)} left; sufficient: ${report.budget_sufficient ? "yes" : "no"}`,
  );
  if (report.step_estimates.length > 0) {
    const rows = report.step_estimates.map((step) => [
      step.step_id,
      step.skill,
      step.outcome,
      step.decision.action === "allow" ? "allow" : `${step.decision.action} (${step.decision.policy_id})`,
      step.estimated_cost_cents === null ? "?" : `${step.estimated_cost_cents}c`,
      step.estimated_tokens === null ? "?" : String(step.estimated_tokens),
      step.estimated_latency_ms === null ? "?" : `${step.estimated_latency_ms} ms`,
      step.observed_p50_ms === null ? "-" : `${step.observed_p50_ms} ms`,
    ]);
    out.out("");
    for (const line of table([["STEP", "SKILL", "OUTCOME", "DECISION", "COST", "TOKENS", "LATENCY", "OBSERVED P50"], ...rows])) out.out(`  ${line}`);
  }
  out.out(`  total: ${report.estimated_cost_cents}c, ${report.estimated_tokens} tokens, about ${report.estimated_duration_ms} ms`);
  for (const step of report.step_estimates.filter((estimate) => estimate.missing_settings.length > 0)) {
    out.out(`  step ${step.step_id}: ${step.skill} would fail CREDENTIALS_MISSING: set ${step.missing_settings.join(" and ")}`);
  }
  const risks = riskLines(report.risks);
  if (risks.length > 0) {
    out.out("");
    out.out("  risks (from the failure catalog; retryable ones are retried up to the step's retry_count):");
    for (const line of risks) out.out(`    ${line}`);
  }
  for (const warning of report.warnings) out.out(paint(out, "yellow", `  note: ${warning}`));
}

/** One line per step: its retryable and its final failure codes, with what the tenant's history saw. */
function riskLines(risks: readonly StepRisk[]): string[] {
  const bySteps = new Map<string, StepRisk[]>();
  for (const risk of risks) bySteps.set(`${risk.step_id} ${risk.skill}`, [...(bySteps.get(`${risk.step_id} ${risk.skill}`) ?? []), risk]);
  return [...bySteps.entries()].map(([step, list]) => {
    const name = (risk: StepRisk): string => (risk.observed_failures > 0 ? `${risk.code} (${risk.observed_failures}/${risk.observed_attempts} lately)` : risk.code);
    const retryable = list.filter((risk) => risk.retryable).map(name);
    const final = list.filter((risk) => !risk.retryable).map(name);
    return `${step}: retried: ${retryable.join(", ") || "none"}; fails the step: ${final.join(", ") || "none"}`;
  });
}

function cents(value: number | null): string {
  return value === null ? "unlimited" : `${value}c`;
}

interface TenantFlags extends CommonFlags {
  tenantId: string;
  agentId?: string;
}

export function capabilitiesCommand(ctx: CliContext): Command {
  return new Command("capabilities")
    .description("what an agent can do now: skills allowed and configured, approvals, budget left, step rate left, recent history")
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("-a, --agent-id <agent>", "the agent, by id or name (default: the tenant's default agent)")
    .option("--json", "print as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: TenantFlags) => {
      const report = await withDatabase(ctx, (db) => agentCapabilities(db.pool, ctx.config, flags.tenantId, flags.agentId));
      if (flags.json) return printJson(ctx.output, report);
      printCapabilities(ctx, report);
    });
}

function printCapabilities(ctx: CliContext, report: CapabilitiesReport): void {
  const out = ctx.output;
  const { agent, policy, budget } = report;
  out.out(`Agent ${agent.name}${agent.id === null ? " (not created yet)" : ` ${agent.id}`} of tenant ${report.tenant_id}: ${agent.status}`);
  out.out(`  policy ${policy.id} (${policy.hash.slice(0, 12)})${policy.emergency_stop ? paint(out, "red", "  EMERGENCY STOP") : ""}`);
  out.out(
    `  budget: agent ${cents(budget.agent_remaining_cents)} left of ${cents(budget.agent_limit_cents)}; ` +
      `tenant today ${budget.tenant_spent_today_cents}c spent of ${cents(budget.tenant_daily_cap_cents)}`,
  );
  const caps = Object.entries(policy.caps).filter(([, value]) => value !== null);
  if (caps.length > 0) out.out(`  caps: ${caps.map(([name, value]) => `${name}=${value}`).join(", ")}`);
  if (policy.steps_per_minute !== null) out.out(`  steps this minute: ${policy.steps_remaining_this_minute} of ${policy.steps_per_minute} left`);
  const rows = report.skills.map((skill) => [
    skill.name,
    skill.available ? (skill.requires_approval ? "approval" : "yes") : "no",
    skill.configured ? "yes" : `no: ${skill.missing_settings.join(", ")}`,
    skill.history.attempts === 0 ? "-" : `${skill.history.attempts - skill.history.failures}/${skill.history.attempts}`,
    skill.history.p50_ms === null ? "-" : `${skill.history.p50_ms} ms`,
  ]);
  out.out("");
  for (const line of table([["SKILL", "ALLOWED", "CONFIGURED", "OK (30 DAYS)", "P50"], ...rows])) out.out(`  ${line}`);
}

interface QueryFlags extends TenantFlags {
  runId?: string;
  goal?: string;
  limit?: string;
}

export function queryCommand(ctx: CliContext): Command {
  return new Command("query")
    .description(`ask about an agent's state, from the database: ${QUERY_TYPES.join(" | ")}`)
    .argument("<query_type>", QUERY_TYPES.join(" | "))
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("-a, --agent-id <agent>", "the agent, by id or name (default: the run's agent, else the tenant's default agent)")
    .option("--run-id <id>", "about this run only")
    .option("--goal <text>", "what_did_i_try_already: only runs with exactly this goal")
    .option("--limit <n>", "what_did_i_try_already: at most this many distinct calls", "20")
    .option("--json", "print as JSON (the default; the answer is data)")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (queryType: string, flags: QueryFlags) => {
      const limit = parseWholeNumber("--limit", flags.limit);
      const answer = await withDatabase(ctx, (db) =>
        runtimeQuery(db.pool, ctx.config, queryType, { tenantId: flags.tenantId, agentId: flags.agentId, runId: flags.runId, goal: flags.goal, limit }),
      );
      printJson(ctx.output, answer);
    });
}
