import { describe, expect, it } from "vitest";
import type { Plan, PlanStep } from "../glossary.js";
import { validatePlan } from "./validate-plan.js";

const step = (stepId: string, skill: string, params: Record<string, unknown>): PlanStep => ({
  step_id: stepId,
  skill,
  params,
  on_error: "abort",
  retry_count: 2,
  depends_on: [],
});
const plan = (...steps: PlanStep[]): Plan => ({ plan_id: "p", planner: "explicit", steps });
const limits = { maxPlanSteps: 25 };

describe("validatePlan", () => {
  const fetch = step("fetch", "http_call", { url: "https://example.com/" });

  it("accepts references to earlier steps, and checks the other params against the skill's schema", () => {
    expect(validatePlan(plan(fetch, step("pick", "json_transform", { payload: "{{fetch.body}}", mapping: { a: "a" } })), limits)).toEqual([]);
    expect(validatePlan(plan(step("pick", "json_transform", { payload: {}, mapping: 7 })), limits)).toEqual([
      expect.objectContaining({ code: "INVALID_PARAMS", path: "steps[0].params.mapping" }),
    ]);
  });

  it("refuses a reference to a later or unknown step", () => {
    const issues = validatePlan(plan(step("pick", "json_transform", { payload: "{{fetch.body}}", mapping: {} }), fetch), limits);
    expect(issues).toEqual([expect.objectContaining({ code: "UNKNOWN_REFERENCE", path: "steps[0].params.payload" })]);
  });

  it("refuses a reference in a field its skill wants written literally: no result is spliced into SQL", () => {
    const spliced = step("q", "postgres_query", { query: "select * from t where name = '{{fetch.body.name}}'" });
    expect(validatePlan(plan(fetch, spliced), limits)).toEqual([
      {
        code: "REFERENCE_NOT_ALLOWED",
        path: "steps[1].params.query",
        message: "postgres_query's query must be written literally; pass earlier results as bound values instead ({{fetch.body.name}})",
      },
    ]);
    const bound = step("q", "postgres_query", { query: "select * from t where name = $1", params: ["{{fetch.body.name}}"] });
    expect(validatePlan(plan(fetch, bound), limits)).toEqual([]);
  });
});
