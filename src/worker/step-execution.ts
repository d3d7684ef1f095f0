import { untilAborted } from "../abortable.js";
import { toAppError } from "../errors.js";
import type { StepDecision } from "../glossary.js";
import type { AllowDecision } from "../policy/decide.js";
import type { Skill, SkillContext, SkillOutcome } from "../skills/contract.js";
import { abortedOutcome, failure } from "../skills/outcome.js";
import { formatPath } from "../input-issues.js";

export interface Attempt {
  outcome: SkillOutcome;
  startedAt: Date;
  completedAt: Date;
  durationMs: number;
  /** The policy decision the attempt ran under; null only for an attempt that failed before it could be decided. */
  decision: StepDecision | null;
}

/**
 * Runs one attempt of a skill. It takes an AllowDecision, which only the policy engine can produce, so no skill
 * runs without a decision. Input is validated strictly (after interpolation) before the skill sees it, and
 * anything the skill throws becomes an error outcome here, at the executor boundary, so a failing skill is
 * always a failed step and never a silent success.
 */
export async function executeAttempt(skill: Skill<unknown>, params: unknown, ctx: SkillContext, decision: AllowDecision): Promise<Attempt> {
  const startedAt = new Date();
  const outcome = await outcomeOf(skill, params, ctx);
  const completedAt = new Date();
  return { outcome, startedAt, completedAt, durationMs: Math.max(0, completedAt.getTime() - startedAt.getTime()), decision };
}

/** An attempt that never ran: failed before it could be decided, or blocked by its decision. */
export function attemptNotRun(outcome: SkillOutcome, decision: StepDecision | null): Attempt {
  const now = new Date();
  return { outcome, startedAt: now, completedAt: now, durationMs: 0, decision };
}

async function outcomeOf(skill: Skill<unknown>, params: unknown, ctx: SkillContext): Promise<SkillOutcome> {
  const parsed = skill.input.safeParse(params);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${formatPath(issue.path) || "params"}: ${issue.message}`);
    return failure("VALIDATION_ERROR", `invalid params for ${skill.name}: ${problems.join("; ")}`);
  }
  try {
    // Once its signal aborts (the step timeout, a lost lease), the attempt ends with the aborted outcome even if the
    // skill ignores the signal and keeps running: the attempt ends on time either way.
    return await untilAborted(skill.execute(parsed.data, ctx), ctx.signal);
  } catch (thrown) {
    if (ctx.signal.aborted) return abortedOutcome(skill.name, ctx.signal);
    const error = toAppError(thrown);
    const code = error.code === "INTERNAL" ? "SKILL_ERROR" : error.code;
    return failure(code, `${skill.name} failed: ${error.message}`, { retryable: error.retryable });
  }
}
