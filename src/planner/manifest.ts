import { z } from "zod";
import type { EffectivePolicy } from "../policy/policy-document.js";
import type { Skill } from "../skills/contract.js";
import { describeSkill, listSkills } from "../skills/registry.js";

/** One skill as the planner's model sees it: enough to choose it and to write its params. */
export interface ManifestEntry {
  name: string;
  version: string;
  description: string;
  side_effects: string;
  /**
   * JSON Schema of the params as written, from the skill's own (strict) input validator: in input form, so a field
   * with a default is optional rather than required (the output form the skill receives lists it as required).
   */
  input_schema: unknown;
  /** What the skill's result holds on success, so later steps can reference its fields. */
  output: Record<string, string>;
  failure_codes: readonly string[];
  /** Present when the policy makes a person approve the step before it runs. */
  requires_approval?: true;
}

/**
 * The skills a model may plan with: the registry's, in its order, less those the agent's effective policy does
 * not allow (`allowedSkills` null allows all). Offering a skill the policy blocks would only buy a plan whose step
 * is denied at run time, after its cost was spent.
 */
export function plannerManifest(policy: Pick<EffectivePolicy, "allowedSkills" | "requireApproval">): ManifestEntry[] {
  return listSkills()
    .filter((skill) => policy.allowedSkills === null || policy.allowedSkills.has(skill.name))
    .map((skill) => {
      const described = describeSkill(skill);
      return {
        name: described.name,
        version: described.version,
        description: described.description,
        side_effects: described.side_effects,
        input_schema: inputSchemaOf(skill),
        output: described.output,
        failure_codes: described.failure_codes,
        ...(policy.requireApproval.has(skill.name) ? { requires_approval: true as const } : {}),
      };
    });
}

/** The "$schema" line is the same for every skill and tells the model nothing, so it is left out. */
function inputSchemaOf(skill: Skill<unknown>): unknown {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(skill.input, { io: "input", unrepresentable: "any" });
  return schema;
}
