import { formatIssues, type InputIssue } from "../input-issues.js";
import type { ManifestEntry } from "./manifest.js";

/**
 * What the LLM planner says to the model. The answer format is exactly the explicit plan's (plan-shape.ts), so a
 * model's plan goes through the same shape check and validation as a plan file; the rules below are the ones
 * validatePlan and the runner enforce, stated up front so that a first answer is usually a valid one.
 */
export function plannerSystemPrompt(manifest: readonly ManifestEntry[], maxPlanSteps: number): string {
  return `You plan runs for AOS, a platform that executes a plan's steps one after another, each step calling one skill.
Turn the user's goal into a plan.

Answer with ONE raw JSON object and nothing else: no prose around it, no code fence.
{"reasoning": "<one or two sentences on why these steps>",
 "steps": [{"step_id": "<short unique id, e.g. fetch>",
            "skill": "<a skill name from the list below>",
            "params": {<the skill's input, matching its input_schema exactly>},
            "on_error": "abort" or "continue",
            "retry_count": <optional, 0 to 10 retries after a failed attempt; default 2>,
            "output_key": "<optional name for this step's result; default: the step_id>",
            "depends_on": [<optional step_ids of earlier steps this one needs>],
            "description": "<optional, what the step does>"}]}

Rules:
- Use only the skills listed below. params must satisfy the skill's input_schema: no missing required fields, no
  fields it does not list.
- 1 to ${maxPlanSteps} steps, as few as the goal needs. Steps run in list order; depends_on may only name earlier steps.
- on_error "abort" ends the run when the step fails; "continue" goes on with the next step. Nothing else is allowed.
- A step can use an earlier step's result through a reference inside any string in its params: {{key.path}}, where
  key is the earlier step's output_key (or its step_id when it has none) and path walks that result with dots and
  [n] indexes ([-1] is the last item), e.g. {{fetch.body.items[0].name}}. A string that is exactly one reference
  receives the value with its type (an object stays an object, a number a number); a reference inside longer text
  is replaced by the value as text. Only earlier steps can be referenced, and the path must exist in their result:
  each skill's "output" says what its result holds.
- Skills marked requires_approval wait for a person before they run.
- If the goal cannot be reached with these skills, answer with "steps": [] and say why in "reasoning".

Skills (JSON):
${JSON.stringify(manifest)}`;
}

export function goalMessage(goal: string): string {
  return `Goal: ${goal}`;
}

/** The one repair request: the exact problems found in the previous answer, which precedes it in the conversation. */
export function repairMessage(issues: readonly InputIssue[]): string {
  return `Your answer could not be used as a plan. Problems found:
${issues.map((issue) => `- ${formatIssues([issue])}`).join("\n")}
Answer again with the corrected plan: ONE raw JSON object in the same format, nothing else.`;
}
