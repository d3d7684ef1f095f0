import { describe, expect, it } from "vitest";
import { listSkills } from "../skills/registry.js";
import { plannerManifest } from "./manifest.js";

describe("the planner's manifest", () => {
  it("offers every registered skill, in the registry's order, when the policy allows all", () => {
    const manifest = plannerManifest({ allowedSkills: null, requireApproval: new Set() });
    expect(manifest.map((entry) => entry.name)).toEqual(listSkills().map((skill) => skill.name));
    expect(manifest.some((entry) => entry.requires_approval)).toBe(false);
  });

  it("offers only the allowed skills, and marks those that wait for approval", () => {
    const manifest = plannerManifest({ allowedSkills: new Set(["json_transform", "http_call"]), requireApproval: new Set(["http_call"]) });
    expect(manifest.map((entry) => [entry.name, entry.requires_approval ?? false])).toEqual([
      ["http_call", true],
      ["json_transform", false],
    ]);
    expect(plannerManifest({ allowedSkills: new Set(), requireApproval: new Set() })).toEqual([]);
  });

  it("describes params as written: a field with a default is not required", () => {
    const [http] = plannerManifest({ allowedSkills: new Set(["http_call"]), requireApproval: new Set() });
    expect(http).toMatchObject({ version: "1.0.0", side_effects: "external_write", input_schema: { type: "object", required: ["url"], additionalProperties: false } });
    expect(http?.input_schema).not.toHaveProperty("$schema");
    expect(http?.failure_codes).toContain("FORBIDDEN_TARGET");
  });
});
