import { describe, expect, it } from "vitest";
import { MAX_REASONING_CHARS, readPlanReply, type ReplyContext } from "./plan-reply.js";

const context: ReplyContext = {
  planId: "plan-0123456789ab",
  planner: "anthropic",
  maxPlanSteps: 3,
  offeredSkills: new Set(["json_transform", "llm_invoke"]),
};

const step = { step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } }, on_error: "abort" };
const answer = (value: unknown) => JSON.stringify(value);

describe("reading a model's answer as a plan", () => {
  it("takes raw JSON, or JSON in a code fence, as the explicit plan's shape with the model as its planner", () => {
    for (const text of [answer({ reasoning: "one step", steps: [step] }), `\`\`\`json\n${answer({ reasoning: "one step", steps: [step] })}\n\`\`\``]) {
      expect(readPlanReply(text, context)).toEqual({
        ok: true,
        plan: {
          plan_id: "plan-0123456789ab",
          planner: "anthropic",
          reasoning: "one step",
          steps: [{ ...step, retry_count: 2, depends_on: [] }],
        },
      });
    }
  });

  it("keeps a bounded amount of reasoning, and none when it is not text", () => {
    const long = readPlanReply(answer({ reasoning: "x".repeat(5000), steps: [step] }), context);
    expect(long.ok && long.plan.reasoning?.length).toBe(MAX_REASONING_CHARS);
    const odd = readPlanReply(answer({ reasoning: { why: 1 }, steps: [step] }), context);
    expect(odd.ok && "reasoning" in odd.plan).toBe(false);
  });

  it("reports prose as INVALID_JSON and a non-object as a shape problem", () => {
    expect(readPlanReply("Sure! Here is your plan: fetch the page.", context)).toMatchObject({
      ok: false,
      issues: [{ code: "INVALID_JSON", message: expect.stringMatching(/^the answer is not JSON/) as string }],
    });
    expect(readPlanReply("[1, 2]", context)).toMatchObject({ ok: false, issues: [{ code: "INVALID_PLAN_SHAPE" }] });
  });

  it("reports every problem at once: a skill the policy does not allow, an unknown one, and the validator's findings", () => {
    const result = readPlanReply(
      answer({
        steps: [
          { step_id: "a", skill: "http_call", params: { url: "https://example.com" }, on_error: "abort" },
          { step_id: "b", skill: "web_search", params: {}, on_error: "abort" },
          { step_id: "c", skill: "json_transform", params: { payload: "{{zzz.x}}", mapping: { x: "x" } }, on_error: "abort" },
          { step_id: "d", skill: "json_transform", params: { payload: 1, mapping: { x: "x" } }, on_error: "abort" },
        ],
      }),
      context,
    );
    expect(result.ok).toBe(false);
    const codes = result.ok ? [] : result.issues.map((issue) => `${issue.path} ${issue.code}`);
    expect(codes).toEqual(
      expect.arrayContaining(["steps[0].skill SKILL_NOT_ALLOWED", "steps[1].skill UNKNOWN_SKILL", "steps[2].params.payload UNKNOWN_REFERENCE", "steps TOO_MANY_STEPS"]),
    );
    expect(codes.filter((code) => code.includes("steps[1]"))).toEqual(["steps[1].skill UNKNOWN_SKILL"]);
  });

  it("refuses an on_error the runner does not know, and fields a step does not have", () => {
    const result = readPlanReply(answer({ steps: [{ ...step, on_error: "retry", status: "pending" }] }), context);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues.map((issue) => issue.path)).toEqual(expect.arrayContaining(["steps[0].on_error", "steps[0]"]));
  });
});
