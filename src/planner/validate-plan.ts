import type { Plan, PlanStep } from "../glossary.js";
import { inputProblem } from "../input-text.js";
import { findSkill } from "../skills/registry.js";
import { formatPath, type InputIssue } from "../input-issues.js";
import { findReferences, stringsIn } from "./references.js";

export interface PlanLimits {
  maxPlanSteps: number;
}

/**
 * Validates a plan against the skill registry and the plan rules; returns every problem found, not just the
 * first. Params holding `{{…}}` references are checked after setting aside the referencing fields, whose values
 * exist only at run time (the runner validates them again after interpolation).
 */
export function validatePlan(plan: Plan, limits: PlanLimits): InputIssue[] {
  // A plan from a model, or one checked nowhere else, holding text nothing can store or hash is refused by name.
  const text = inputProblem(plan, "");
  if (text !== undefined) return [{ code: "INVALID_TEXT", path: text.field, message: `${text.field}: ${text.reason}` }];
  const issues: InputIssue[] = [];
  if (plan.steps.length === 0) issues.push({ code: "EMPTY_PLAN", path: "steps", message: "the plan has no steps" });
  if (plan.steps.length > limits.maxPlanSteps) {
    issues.push({
      code: "TOO_MANY_STEPS",
      path: "steps",
      message: `the plan has ${plan.steps.length} steps; at most ${limits.maxPlanSteps} are allowed`,
    });
  }
  issues.push(...duplicateIds(plan.steps), ...dependencyIssues(plan.steps));
  plan.steps.forEach((step, index) => issues.push(...stepIssues(plan.steps, step, index)));
  return issues;
}

function duplicateIds(steps: readonly PlanStep[]): InputIssue[] {
  const seen = new Set<string>();
  const issues: InputIssue[] = [];
  steps.forEach((step, index) => {
    if (seen.has(step.step_id)) {
      issues.push({ code: "DUPLICATE_STEP_ID", path: `steps[${index}].step_id`, message: `step id "${step.step_id}" is used twice` });
    }
    seen.add(step.step_id);
  });
  return issues;
}

function stepIssues(steps: readonly PlanStep[], step: PlanStep, index: number): InputIssue[] {
  const at = `steps[${index}]`;
  const skill = findSkill(step.skill);
  if (skill === undefined) {
    return [{ code: "UNKNOWN_SKILL", path: `${at}.skill`, message: `unknown skill "${step.skill}" (see aos list-skills)` }];
  }
  const issues: InputIssue[] = [];
  const earlier = new Set(steps.slice(0, index).flatMap((previous) => [previous.step_id, previous.output_key ?? previous.step_id]));
  const referencing = new Set<string>();
  for (const [text, path] of stringsIn(step.params)) {
    const references = findReferences(text);
    if (references.length > 0) referencing.add(formatPath(path));
    const field = path[0];
    if (references.length > 0 && typeof field === "string" && skill.literalFields?.includes(field)) {
      issues.push({
        code: "REFERENCE_NOT_ALLOWED",
        path: `${at}.params.${formatPath(path)}`,
        message: `${skill.name}'s ${field} must be written literally; pass earlier results as bound values instead (${references[0]?.text})`,
      });
    }
    for (const reference of references) {
      if (!earlier.has(reference.key)) {
        issues.push({
          code: "UNKNOWN_REFERENCE",
          path: `${at}.params.${formatPath(path)}`,
          message: `${reference.text} refers to "${reference.key}", which is not an earlier step's step_id or output_key`,
        });
      }
    }
  }
  const parsed = skill.input.safeParse(step.params);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = formatPath(issue.path);
      if ([...referencing].some((field) => path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`))) continue;
      issues.push({ code: "INVALID_PARAMS", path: `${at}.params${path ? `.${path}` : ""}`, message: issue.message });
    }
  }
  return issues;
}

function dependencyIssues(steps: readonly PlanStep[]): InputIssue[] {
  const position = new Map(steps.map((step, index) => [step.step_id, index]));
  const issues: InputIssue[] = [];
  steps.forEach((step, index) => {
    step.depends_on.forEach((dependency, dependencyIndex) => {
      const at = `steps[${index}].depends_on[${dependencyIndex}]`;
      const target = position.get(dependency);
      if (target === undefined) {
        issues.push({ code: "UNKNOWN_DEPENDENCY", path: at, message: `depends on unknown step "${dependency}"` });
      } else if (target >= index && !inCycle(steps, step.step_id)) {
        issues.push({
          code: "DEPENDENCY_ORDER",
          path: at,
          message: `steps run in list order; move "${dependency}" before "${step.step_id}"`,
        });
      }
    });
  });
  for (const step of steps) {
    if (inCycle(steps, step.step_id)) {
      issues.push({
        code: "CIRCULAR_DEPENDENCY",
        path: `steps[${position.get(step.step_id)}].depends_on`,
        message: `step "${step.step_id}" depends on itself through depends_on`,
      });
    }
  }
  return issues;
}

/** Whether following depends_on from `start` leads back to it. */
function inCycle(steps: readonly PlanStep[], start: string): boolean {
  const byId = new Map(steps.map((step) => [step.step_id, step]));
  const visited = new Set<string>();
  const pending = [...(byId.get(start)?.depends_on ?? [])];
  while (pending.length > 0) {
    const id = pending.pop() as string;
    if (id === start) return true;
    if (visited.has(id)) continue;
    visited.add(id);
    pending.push(...(byId.get(id)?.depends_on ?? []));
  }
  return false;
}
