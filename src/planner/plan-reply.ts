import type { Plan } from "../glossary.js";
import { findSkill } from "../skills/registry.js";
import { canonicalJson } from "../trace/canonical-json.js";
import type { InputIssue } from "../input-issues.js";
import { parsePlanShape } from "./plan-shape.js";
import { validatePlan } from "./validate-plan.js";

/** A model's reasoning is kept for people reading the plan, not as a transcript: this much of it at most. */
export const MAX_REASONING_CHARS = 2000;

export interface ReplyContext {
  planId: string;
  planner: "anthropic" | "openai";
  maxPlanSteps: number;
  /** The skills the manifest offered: a registered skill outside it is one the agent's policy does not allow. */
  offeredSkills: ReadonlySet<string>;
}

export type ReplyResult = { ok: true; plan: Plan } | { ok: false; issues: InputIssue[] };

/** A code fence around the whole answer (```json … ```), which models add even when told not to. */
const FENCED = /^```[a-z]*\s*\n?([\s\S]*?)\n?\s*```$/i;

/**
 * Reads a model's answer as a plan: JSON (a surrounding code fence stripped), the explicit plan's shape, then the
 * same validation as any plan, plus skills the policy does not allow; every problem found, so the repair request
 * can name them all. The plan it returns has no usage yet: that is known only once the conversation is over.
 */
export function readPlanReply(text: string, context: ReplyContext): ReplyResult {
  const trimmed = text.trim();
  const body = FENCED.exec(trimmed)?.[1] ?? trimmed;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    const message = `the answer is not JSON (${(error as Error).message}); answer with one JSON object only`;
    return { ok: false, issues: [{ code: "INVALID_JSON", path: "", message }] };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, issues: [{ code: "INVALID_PLAN_SHAPE", path: "", message: 'expected a JSON object with "reasoning" and "steps"' }] };
  }
  const shaped = parsePlanShape(json, context.planId);
  if (!shaped.ok) return shaped;
  const reasoning = (json as { reasoning?: unknown }).reasoning;
  const plan: Plan = {
    ...shaped.plan,
    planner: context.planner,
    ...(typeof reasoning === "string" && reasoning.trim() !== "" ? { reasoning: reasoning.trim().slice(0, MAX_REASONING_CHARS) } : {}),
  };
  const issues = [...notOffered(plan, context.offeredSkills), ...validatePlan(plan, { maxPlanSteps: context.maxPlanSteps }), ...unhashable(plan)];
  return issues.length === 0 ? { ok: true, plan } : { ok: false, issues };
}

function notOffered(plan: Plan, offered: ReadonlySet<string>): InputIssue[] {
  const list = [...offered].join(", ");
  return plan.steps.flatMap((step, index) =>
    // An unregistered skill is validatePlan's UNKNOWN_SKILL; only a registered one can be merely not allowed.
    offered.has(step.skill) || findSkill(step.skill) === undefined
      ? []
      : [{ code: "SKILL_NOT_ALLOWED", path: `steps[${index}].skill`, message: `skill "${step.skill}" is not allowed for this agent; use one of: ${list}` }],
  );
}

/** The plan is hashed into the trace header; text canonical JSON cannot represent (a lone surrogate) is refused here. */
function unhashable(plan: Plan): InputIssue[] {
  try {
    canonicalJson(plan);
    return [];
  } catch (error) {
    return [{ code: "INVALID_PLAN_SHAPE", path: "", message: `the plan cannot be stored: ${(error as Error).message}` }];
  }
}
