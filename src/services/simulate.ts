import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { skillHistory, type SkillHistory } from "../db/queries/skill-history.js";
import { AppError } from "../errors.js";
import { describeFailure, type FailureDescription, isFailureCode } from "../failure-catalog.js";
import type { PlanStep } from "../glossary.js";
import type { InputIssue } from "../input-issues.js";
import { parsePlanShape } from "../planner/plan-shape.js";
import { findReferences, stringsIn } from "../planner/references.js";
import { validatePlan } from "../planner/validate-plan.js";
import type { EffectivePolicy } from "../policy/policy-document.js";
import type { Skill } from "../skills/contract.js";
import { findSkill } from "../skills/registry.js";
import { type Governed, governStep } from "../worker/govern-step.js";
import { least, loadRuntimeView, type RuntimeView, tenantlessPolicy } from "./runtime-view.js";

/**
 * A dry run of a plan: what each step would cost and take by its skill's contract, what the policy engine would
 * decide (the runner's own governStep, against the agent's real policy), whether the agent's real remaining budget
 * covers it, and what can go wrong (the skill's failure codes from the catalog, with how often each happened to
 * this tenant). Nothing is written and no skill is executed. The report is plain JSON with snake_case keys, as
 * `aos simulate --json` prints it (upstream's field names where it had them).
 */
export interface SimulationReport {
  feasible: boolean;
  status: SimulationStatus;
  /** Why the run would stop early, in the words the run's error message would use; null when it would not. */
  halt: { step_id: string; reason: string } | null;
  estimated_cost_cents: number;
  estimated_tokens: number;
  estimated_duration_ms: number;
  budget: SimulatedBudget;
  budget_remaining_cents: number | null;
  budget_sufficient: boolean;
  policy: { id: string; hash: string };
  plan_issues: InputIssue[];
  permission_gaps: { step_id: string; skill: string; policy_id: string; reason: string }[];
  approvals_required: { step_id: string; skill: string }[];
  step_estimates: StepEstimate[];
  risks: StepRisk[];
  warnings: string[];
}

export type SimulationStatus = "feasible" | "needs_approval" | "plan_invalid" | "policy_blocked" | "budget_insufficient" | "not_configured";

/** What a step would do when the run reaches it. */
export type StepOutcome = "would_run" | "needs_approval" | "blocked" | "over_budget" | "would_fail" | "not_reached" | "invalid";

export interface StepEstimate {
  step_id: string;
  skill: string;
  skill_version: string | null;
  outcome: StepOutcome;
  /** Null when the parameters hold references resolved only at run time, or do not validate. */
  estimated_cost_cents: number | null;
  estimated_tokens: number | null;
  estimated_latency_ms: number | null;
  /** This tenant's median for the skill over the last 30 days, for comparison; null without history. */
  observed_p50_ms: number | null;
  side_effects: string | null;
  decision: { action: string; policy_id: string; reason: string };
  /** Configuration the call needs that is not set: it would fail CREDENTIALS_MISSING. */
  missing_settings: string[];
  retries: number;
}

export interface StepRisk extends FailureDescription {
  step_id: string;
  skill: string;
  /** How many attempts of this skill failed with this code for the tenant in the last 30 days. */
  observed_failures: number;
  /** Of how many attempts in the same window. */
  observed_attempts: number;
}

export interface SimulatedBudget {
  /** "flag": --budget-cents stands in for the agent's budget; "agent": the agent's real remaining budget. */
  source: "flag" | "agent" | "none";
  agent_remaining_cents: number | null;
  tenant_day_remaining_cents: number | null;
}

export interface SimulateInput {
  plan: unknown;
  tenantId?: string | undefined;
  agentId?: string | undefined;
  /** What-if: simulate against this budget instead of the agent's remaining budget. */
  budgetCents?: number | undefined;
}

export async function simulatePlan(db: Database, config: Config, input: SimulateInput): Promise<SimulationReport> {
  if (input.agentId !== undefined && input.tenantId === undefined) {
    throw new AppError("VALIDATION_ERROR", "an agent belongs to a tenant: give its tenant_id too", { details: { field: "tenant_id" } });
  }
  const view = input.tenantId === undefined ? undefined : await loadRuntimeView(db.pool, input.tenantId, input.agentId);
  const policy = view?.policy ?? tenantlessPolicy();
  const shaped = parsePlanShape(input.plan, "plan-simulation");
  const steps = shaped.ok ? shaped.plan.steps : [];
  const planIssues = shaped.ok ? validatePlan(shaped.plan, { maxPlanSteps: config.maxPlanSteps }) : shaped.issues;
  const history =
    view === undefined ? new Map<string, SkillHistory>() : await skillHistory(db.pool, view.tenantId, [...new Set(steps.map((step) => step.skill))]);

  const walk = new PlanWalk(db, config, policy, view, input.budgetCents, history);
  for (const step of steps) await walk.visit(step);
  return walk.report(planIssues);
}

/** Walks the plan in the runner's order, carrying what the run would have spent when it reaches each step. */
class PlanWalk {
  private readonly estimates: StepEstimate[] = [];
  private readonly risks: StepRisk[] = [];
  private readonly warnings: string[] = [];
  private halt: { step_id: string; reason: string; status: SimulationStatus } | null = null;
  private costCents = 0;
  private tokens = 0;
  private durationMs = 0;
  private readonly budget: SimulatedBudget;

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly policy: EffectivePolicy,
    private readonly view: RuntimeView | undefined,
    budgetFlag: number | undefined,
    private readonly history: ReadonlyMap<string, SkillHistory>,
  ) {
    const agentRemaining = budgetFlag ?? view?.budget.agent.remainingCents ?? null;
    this.budget = {
      source: budgetFlag !== undefined ? "flag" : view?.budget.agent.limitCents != null ? "agent" : "none",
      agent_remaining_cents: agentRemaining,
      tenant_day_remaining_cents: view?.budget.tenantDay.remainingCents ?? null,
    };
    if (view === undefined) this.warnings.push("no tenant: decided by the default policy (no caps, no approvals), with no budget or history");
    else if (!view.agentExists) this.warnings.push(`tenant ${view.tenantId} has no default agent yet; simulated as the one \`aos run\` would create`);
  }

  async visit(step: PlanStep): Promise<void> {
    const skill = findSkill(step.skill);
    if (skill === undefined) {
      this.estimates.push(this.unknownSkill(step));
      return;
    }
    const parsed = skill.input.safeParse(step.params);
    const input = parsed.success ? parsed.data : undefined;
    if (input === undefined && hasReferences(step.params)) {
      this.warnings.push(`step ${step.step_id}: its parameters use {{…}} references, resolved only at run time; its estimates and host checks are made then`);
    }
    const governed = await governStep(
      {
        db: this.db,
        policy: { ok: true, policy: this.policy },
        agentId: this.view?.agent.id ?? "",
        egress: { openings: this.config.egressOpenings, narrowTo: this.view?.agent.allowedHosts ?? [] },
        settings: this.config,
        runCostCents: this.costCents,
        runTokens: this.tokens,
      },
      skill,
      step.params,
    );
    const cost = input === undefined ? null : skill.estimateCostCents(input);
    const tokens = input === undefined ? null : (skill.estimateTokens?.(input) ?? 0);
    const latency = input === undefined ? null : skill.estimateLatencyMs(input);
    const missing = input === undefined ? [] : (skill.missingSettings?.(this.config, input) ?? []);
    const outcome = this.outcomeOf(step, governed, cost ?? 0, missing);
    if (outcome === "would_run" || outcome === "needs_approval" || outcome === "would_fail") {
      this.costCents += cost ?? 0;
      this.tokens += tokens ?? 0;
      this.durationMs += latency ?? 0;
    }
    this.estimates.push({
      step_id: step.step_id,
      skill: skill.name,
      skill_version: skill.version,
      outcome,
      estimated_cost_cents: cost,
      estimated_tokens: tokens,
      estimated_latency_ms: latency,
      observed_p50_ms: this.history.get(skill.name)?.p50DurationMs ?? null,
      side_effects: input === undefined ? skill.sideEffects : (skill.sideEffectsOf?.(input) ?? skill.sideEffects),
      decision: { action: governed.decision.action, policy_id: governed.decision.policy_id, reason: governed.decision.reason },
      missing_settings: missing,
      retries: step.retry_count,
    });
    this.risks.push(...this.risksOf(step, skill));
  }

  /** What the step would do, and whether the run would stop there (the first stop wins, as in the runner). */
  private outcomeOf(step: PlanStep, governed: Governed, costCents: number, missing: readonly string[]): StepOutcome {
    if (this.halt !== null) return "not_reached";
    if (governed.kind === "deny" || governed.kind === "skipped") {
      const reason = governed.kind === "skipped" ? `Enforcement skipped: ${governed.reason}` : `Policy violation: ${governed.decision.policy_id}: ${governed.decision.reason}`;
      this.halt = { step_id: step.step_id, reason, status: "policy_blocked" };
      return "blocked";
    }
    const overBudget = this.overBudget(costCents);
    if (overBudget !== undefined) {
      this.halt = { step_id: step.step_id, reason: overBudget, status: "budget_insufficient" };
      return "over_budget";
    }
    if (missing.length > 0) {
      if (step.on_error === "abort") {
        this.halt = { step_id: step.step_id, reason: `${step.skill} needs ${missing.join(" and ")}, which is not set`, status: "not_configured" };
      }
      return "would_fail";
    }
    return governed.kind === "require_approval" ? "needs_approval" : "would_run";
  }

  /**
   * The reservation the runner makes before the step, against what the steps before it would have spent; the
   * reason is worded as the run's halt would be.
   */
  private overBudget(costCents: number): string | undefined {
    const { agent_remaining_cents: agentLeft, tenant_day_remaining_cents: dayLeft } = this.budget;
    if (costCents <= 0 || (agentLeft === null && dayLeft === null)) return undefined;
    const total = this.costCents + costCents;
    if (agentLeft !== null && total > agentLeft) {
      // With --budget-cents the simulated budget starts unspent; otherwise it is the agent's row.
      const spent = this.budget.source === "flag" ? 0 : (this.view?.budget.agent.spentCents ?? 0);
      const limit = this.budget.source === "flag" ? agentLeft : (this.view?.budget.agent.limitCents ?? agentLeft);
      return `Hard budget limit reached: ${spent + total}c consumed >= ${limit}c limit`;
    }
    if (dayLeft !== null && total > dayLeft) {
      const day = this.view?.budget.tenantDay;
      return `Hard budget limit reached: ${(day?.spentCents ?? 0) + total}c consumed >= ${day?.capCents ?? dayLeft}c limit (the tenant's daily cap, ${day?.day} UTC)`;
    }
    return undefined;
  }

  private risksOf(step: PlanStep, skill: Skill<unknown>): StepRisk[] {
    const history = this.history.get(skill.name);
    return skill.failureCodes.filter(isFailureCode).map((code) => ({
      step_id: step.step_id,
      skill: skill.name,
      ...describeFailure(code),
      observed_failures: history?.failuresByCode.find((entry) => entry.code === code)?.count ?? 0,
      observed_attempts: history?.attempts ?? 0,
    }));
  }

  private unknownSkill(step: PlanStep): StepEstimate {
    return {
      step_id: step.step_id,
      skill: step.skill,
      skill_version: null,
      outcome: "invalid",
      estimated_cost_cents: null,
      estimated_tokens: null,
      estimated_latency_ms: null,
      observed_p50_ms: null,
      side_effects: null,
      decision: { action: "deny", policy_id: "registry", reason: `unknown skill "${step.skill}"` },
      missing_settings: [],
      retries: step.retry_count,
    };
  }

  report(planIssues: InputIssue[]): SimulationReport {
    // A plan that does not validate never runs: the steps its issues point at are invalid, the others not reached.
    if (planIssues.length > 0) {
      this.estimates.forEach((estimate, index) => {
        const invalid = planIssues.some((issue) => issue.path === `steps[${index}]` || issue.path.startsWith(`steps[${index}].`));
        estimate.outcome = invalid ? "invalid" : "not_reached";
      });
    }
    // Every step the policy denies, reached or not: what a planner has to change before the plan can run.
    const gaps = this.estimates.filter((estimate) => estimate.decision.action === "deny" && estimate.outcome !== "invalid");
    const approvals = this.estimates.filter((estimate) => estimate.outcome === "needs_approval");
    if (approvals.length > 0) this.warnings.push("time waiting for approvals is not in estimated_duration_ms");
    const status: SimulationStatus =
      planIssues.length > 0 ? "plan_invalid" : (this.halt?.status ?? (approvals.length > 0 ? "needs_approval" : "feasible"));
    const remaining = least(this.budget.agent_remaining_cents, this.budget.tenant_day_remaining_cents);
    return {
      feasible: status === "feasible" || status === "needs_approval",
      status,
      halt: this.halt === null ? null : { step_id: this.halt.step_id, reason: this.halt.reason },
      estimated_cost_cents: this.costCents,
      estimated_tokens: this.tokens,
      estimated_duration_ms: this.durationMs,
      budget: this.budget,
      budget_remaining_cents: remaining,
      budget_sufficient: this.halt?.status !== "budget_insufficient",
      policy: { id: this.policy.id, hash: this.policy.hash },
      plan_issues: planIssues,
      permission_gaps: gaps.map((gap) => ({ step_id: gap.step_id, skill: gap.skill, policy_id: gap.decision.policy_id, reason: gap.decision.reason })),
      approvals_required: approvals.map((step) => ({ step_id: step.step_id, skill: step.skill })),
      step_estimates: this.estimates,
      risks: this.risks,
      warnings: this.warnings,
    };
  }
}

function hasReferences(params: unknown): boolean {
  for (const [text] of stringsIn(params)) if (findReferences(text).length > 0) return true;
  return false;
}
