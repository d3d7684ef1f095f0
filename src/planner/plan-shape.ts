import { z } from "zod";
import type { Plan } from "../glossary.js";
import { formatPath, type InputIssue } from "../input-issues.js";

/**
 * The shape of an explicit plan (`aos run --plan file.json`):
 * {"steps":[{"step_id","skill","params","on_error","retry_count","output_key","depends_on"}]}.
 * Step objects are strict, so a misspelt field ("param") is an error rather than silently ignored.
 * `retry_count` is the number of retries after the first attempt (default 2: three attempts, as upstream).
 */
const stepShape = z
  .object({
    step_id: z.union([z.string().min(1).max(64), z.int().nonnegative()]).transform(String),
    skill: z.string().min(1),
    params: z.record(z.string(), z.unknown()).default({}),
    on_error: z.enum(["abort", "continue"]).default("abort"),
    retry_count: z.int().min(0).max(10).default(2),
    output_key: z.string().min(1).max(64).optional(),
    depends_on: z.array(z.union([z.string(), z.int()]).transform(String)).default([]),
    description: z.string().max(500).optional(),
  })
  .strict();

const planShape = z.object({ steps: z.array(stepShape) }).loose();

export type ShapeResult = { ok: true; plan: Plan } | { ok: false; issues: InputIssue[] };

export function parsePlanShape(input: unknown, planId: string): ShapeResult {
  const parsed = planShape.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        code: "INVALID_PLAN_SHAPE",
        path: formatPath(issue.path),
        message: issue.message,
      })),
    };
  }
  return { ok: true, plan: { plan_id: planId, planner: "explicit", steps: parsed.data.steps } };
}
