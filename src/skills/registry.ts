import { z } from "zod";
import { describeFailure, type FailureDescription, isFailureCode } from "../failure-catalog.js";
import { calendarWriteSkill } from "./calendar-write.js";
import type { Skill } from "./contract.js";
import { emailSendSkill } from "./email-send.js";
import { failTriggerSkill } from "./fail-trigger.js";
import { httpCallSkill } from "./http-call.js";
import { jsonTransformSkill } from "./json-transform.js";
import { kvStoreSkill } from "./kv-store.js";
import { llmInvokeSkill } from "./llm-invoke.js";
import { postgresQuerySkill } from "./postgres-query.js";
import { slackSendSkill } from "./slack-send.js";
import { voyageEmbedSkill } from "./voyage-embed.js";
import { webhookSendSkill } from "./webhook-send.js";

/**
 * Every skill, registered statically: importing this module is all it takes, so no process can forget a
 * load step (upstream's API never loaded its skills). Order is the manifest's order.
 */
const SKILLS: readonly Skill<never>[] = [
  httpCallSkill,
  webhookSendSkill,
  slackSendSkill,
  llmInvokeSkill,
  jsonTransformSkill,
  postgresQuerySkill,
  kvStoreSkill,
  emailSendSkill,
  calendarWriteSkill,
  voyageEmbedSkill,
  failTriggerSkill,
] as unknown as Skill<never>[];

const BY_NAME: ReadonlyMap<string, Skill<unknown>> = new Map(
  SKILLS.map((skill) => [skill.name, skill as unknown as Skill<unknown>]),
);

export function findSkill(name: string): Skill<unknown> | undefined {
  return BY_NAME.get(name);
}

export function listSkills(): Skill<unknown>[] {
  return [...BY_NAME.values()];
}

/**
 * A skill's contract as data, for `aos skill <name>`, the planner's manifest and the API
 * (GET /api/v1/runtime/skills/{skill_id}).
 */
export interface SkillDescriptor {
  name: string;
  version: string;
  description: string;
  determinism: string;
  side_effects: string;
  input_schema: unknown;
  output: Record<string, string>;
  limits: Record<string, string | number>;
  failure_codes: readonly string[];
  /** Each failure code as the catalog describes it: category, retryable, recovery mode, severity, suggestion. */
  failures: FailureDescription[];
}

export function describeSkill(skill: Skill<unknown>): SkillDescriptor {
  return {
    name: skill.name,
    version: skill.version,
    description: skill.description,
    determinism: skill.determinism,
    side_effects: skill.sideEffects,
    input_schema: z.toJSONSchema(skill.input, { io: "input", unrepresentable: "any" }),
    output: skill.output,
    limits: skill.limits,
    failure_codes: skill.failureCodes,
    failures: skill.failureCodes.filter(isFailureCode).map(describeFailure),
  };
}
