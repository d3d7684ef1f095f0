import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { skillContext } from "../../test/support/skill-context.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { failTriggerSkill } from "./fail-trigger.js";

const context = skillContext;

function trigger(raw: Record<string, unknown>, overrides: Partial<SkillContext> = {}): Promise<SkillOutcome> {
  return failTriggerSkill.execute(failTriggerSkill.input.parse(raw), context(overrides));
}

describe("fail_trigger", () => {
  it("fails with INJECTED_FAILURE, retryable, by default", async () => {
    expect(await trigger({})).toEqual({
      status: "error",
      error: {
        code: "INJECTED_FAILURE",
        message: "fail_trigger injected INJECTED_FAILURE on attempt 1",
        category: "TRANSIENT",
        retryable: true,
        details: { attempt: 1 },
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
  });

  it("uses a known catalog code with its catalog retryability, unless told otherwise", async () => {
    expect(await trigger({ error_code: "HTTP_4XX", message: "no such page" })).toMatchObject({
      error: { code: "HTTP_4XX", message: "no such page", category: "PERMANENT", retryable: false },
    });
    expect(await trigger({ error_code: "HTTP_4XX", retryable: true })).toMatchObject({ error: { code: "HTTP_4XX", retryable: true } });
  });

  it("maps an unknown code to INJECTED_FAILURE and keeps the asked-for code in details", async () => {
    expect(await trigger({ error_code: "NOT_A_CATALOG_CODE", retryable: false })).toMatchObject({
      error: { code: "INJECTED_FAILURE", retryable: false, details: { requested_code: "NOT_A_CATALOG_CODE", attempt: 1 } },
    });
  });

  it("fails while attempt <= fail_times, then succeeds", async () => {
    const outcomes = await Promise.all([1, 2, 3].map((attempt) => trigger({ fail_times: 2 }, { attempt })));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["error", "error", "ok"]);
    expect(outcomes[2]?.result).toEqual({ succeeded_on_attempt: 3 });
    expect((await trigger({ fail_times: 0 })).result).toEqual({ succeeded_on_attempt: 1 });
  });

  it("waits delay_ms before answering", async () => {
    const started = Date.now();
    await trigger({ delay_ms: 60 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it("cuts the delay short when the step is cancelled", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    const outcome = await trigger({ delay_ms: 60_000 }, { signal: controller.signal });
    expect(outcome).toMatchObject({ status: "error", error: { code: "CANCELLED", retryable: false } });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("reports the executor's reason when it aborts with an AppError", async () => {
    const controller = new AbortController();
    controller.abort(AppError.retryable("TIMEOUT", "step timed out"));
    expect(await trigger({ delay_ms: 1_000 }, { signal: controller.signal })).toMatchObject({
      error: { code: "TIMEOUT", message: "step timed out", retryable: true },
    });
  });

  it("rejects unknown keys and out-of-range values", () => {
    expect(failTriggerSkill.input.safeParse({ error: "X" }).success).toBe(false);
    expect(failTriggerSkill.input.safeParse({ delay_ms: 60_001 }).success).toBe(false);
    expect(failTriggerSkill.input.safeParse({ fail_times: -1 }).success).toBe(false);
  });
});
