import { describe, expect, it } from "vitest";
import { isSettled, RUN_STATUSES } from "../glossary.js";
import { describeSkill, listSkills } from "../skills/registry.js";
import { checkNamedTenant, ourPlan, skillsForGoal, upstreamStatus } from "./upstream-mapping.js";

describe("upstream's words for ours", () => {
  it("ends upstream's poll (succeeded or failed) on every settled status of ours, and on no other", () => {
    for (const status of RUN_STATUSES) {
      const ends = ["succeeded", "failed"].includes(upstreamStatus(status));
      expect([status, ends]).toEqual([status, isSettled(status)]);
    }
  });

  it("gives upstream's plan steps ids by position and repeats a step `iterations` times", () => {
    const plan = ourPlan([
      { skill: "http_call", params: { url: "u" } },
      { skill: "json_transform", params: {}, iterations: 3 },
      { skill: "kv_store", params: {}, step_id: "mine", iterations: 2 },
    ]);
    expect(plan.steps.map((step) => [step.step_id, step.skill])).toEqual([
      ["step_1", "http_call"],
      ["step_2", "json_transform"],
      ["step_2.2", "json_transform"],
      ["step_2.3", "json_transform"],
      ["mine", "kv_store"],
      ["mine.2", "kv_store"],
    ]);
    expect(plan.steps[0]).toEqual({ step_id: "step_1", skill: "http_call", params: { url: "u" } });
  });

  it("accepts the key's own tenant named and refuses any other", () => {
    expect(() => checkNamedTenant(undefined, "acme")).not.toThrow();
    expect(() => checkNamedTenant("acme", "acme")).not.toThrow();
    expect(() => checkNamedTenant("globex", "acme")).toThrow(/tenant_id "globex" is not this API key's tenant/);
  });

  it("ranks the allowed skills a goal's words point at, leaving out the others and the denied", () => {
    const skills = listSkills().map(describeSkill);
    const all = skills.map((skill) => skill.name);
    expect(skillsForGoal("send an email to the team", all, skills)[0]).toBe("email_send");
    expect(skillsForGoal("send an email", all.filter((name) => name !== "email_send"), skills)).not.toContain("email_send");
    expect(skillsForGoal("zzqx", all, skills)).toEqual([]);
  });
});
