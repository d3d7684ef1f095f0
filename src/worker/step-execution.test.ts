import { describe, expect, it } from "vitest";
import { z } from "zod";
import { allowed } from "../policy/decide.js";
import type { Skill } from "../skills/contract.js";
import { skillContext } from "../../test/support/skill-context.js";
import { executeAttempt } from "./step-execution.js";

const decision = allowed({ action: "allow", reason: "allowed", policy_id: "default", policy_hash: "0".repeat(64) });

/** A skill that never finishes and never looks at its signal: the worst a skill can do to a run. */
const hung: Skill<Record<string, never>> = {
  name: "hung",
  version: "1.0.0",
  description: "never answers",
  input: z.object({}).strict(),
  output: {},
  determinism: "deterministic",
  sideEffects: "none",
  estimateCostCents: () => 0,
  estimateLatencyMs: () => 0,
  limits: {},
  failureCodes: [],
  execute: () => new Promise(() => undefined),
};

describe("executeAttempt", () => {
  it("ends an attempt at the step timeout even when the skill ignores its signal: TIMEOUT, retryable", async () => {
    if (decision === undefined) throw new Error("no allow decision");
    const attempt = await executeAttempt(hung as unknown as Skill<unknown>, {}, skillContext({ signal: AbortSignal.timeout(20) }), decision);
    expect(attempt.outcome).toMatchObject({ status: "error", error: { code: "TIMEOUT", retryable: true } });
  });

  it("reports a cancellation as CANCELLED", async () => {
    if (decision === undefined) throw new Error("no allow decision");
    const controller = new AbortController();
    const pending = executeAttempt(hung as unknown as Skill<unknown>, {}, skillContext({ signal: controller.signal }), decision);
    controller.abort();
    expect((await pending).outcome).toMatchObject({ status: "error", error: { code: "CANCELLED" } });
  });
});
