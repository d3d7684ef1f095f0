import { z } from "zod";
import { RUN_STATUSES } from "../glossary.js";
import { MAX_GOAL_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS } from "../input-text.js";

// The request shapes shared by several routes. Requests are strict (an unknown field is a 400, so a misspelt one
// never passes silently). Response bodies are in run-schemas.ts and runtime-schemas.ts.

/**
 * A string of `min` to `max` characters, counted as JSON Schema (and PostgreSQL's varchar) count them: in code
 * points, not UTF-16 units, so an emoji is one character here, in the spec and in the database alike. The bounds
 * go into the spec as minLength/maxLength.
 */
export function text(min: number, max: number) {
  return z
    .string()
    .refine(
      (value) => {
        const length = [...value].length;
        return length >= min && length <= max;
      },
      { message: `must be ${min} to ${max} characters long (counted in code points)` },
    )
    .meta({ minLength: min, maxLength: max });
}

/** Text that must say something: whitespace alone is refused (the services trim it away), as the spec's pattern says. */
function statedText(min: number, max: number) {
  return text(min, max).regex(/\S/, "must hold a character other than whitespace");
}

const id = (what: string) => text(1, MAX_ID_CHARS).describe(what);

/**
 * A whole number in a path or query string, written as the spec's integer is: digits only, no sign, exponent,
 * fraction, padding or leading zero (`1.0`, `1e2`, ` 1` and `01` are refused, not read as 1 or 100).
 */
function wholeNumber<T extends z.ZodType<number | undefined>>(bounded: T) {
  return z.preprocess((value) => (typeof value === "string" && /^(0|[1-9]\d{0,15})$/.test(value) ? Number(value) : value), bounded);
}

export const runParams = z.object({ run_id: id("the run") }).strict();
export const agentParams = z.object({ agent_id: id("the agent: its id, or its name (a UUID is always an id)") }).strict();
export const stepParams = z.object({ run_id: id("the run"), seq: wholeNumber(z.int().min(0)).describe("the step's seq, its leaf index") }).strict();

/**
 * The Idempotency-Key header. HTTP drops the whitespace around a header value, so a key of whitespace alone arrives
 * empty: the pattern says the same.
 */
export const idempotencyKeyHeader = statedText(1, 255).describe("The same key within 24 hours returns the same run instead of creating another");

const actorFields = {
  origin_system_id: statedText(1, 100).optional().describe("who asked for the run (default api); surrounding whitespace is trimmed"),
  actor_type: z.enum(["HUMAN", "SYSTEM", "SERVICE"]).optional().describe("default SYSTEM"),
  actor_id: text(1, 200).optional().describe("the acting person, required with actor_type HUMAN"),
};

/** actor_id is required with actor_type HUMAN: checked here and stated in the spec with if/then. */
function withActor<T extends z.ZodObject>(schema: T) {
  return schema
    .superRefine((value: { actor_type?: string; actor_id?: string }, context) => {
      if (value.actor_type === "HUMAN" && value.actor_id === undefined) {
        context.addIssue({ code: "custom", path: ["actor_id"], message: "actor_id is required with actor_type HUMAN" });
      }
    })
    .meta({ if: { properties: { actor_type: { const: "HUMAN" } }, required: ["actor_type"] }, then: { properties: { actor_id: { type: "string" } }, required: ["actor_id"] } });
}

const goal = statedText(1, MAX_GOAL_CHARS).describe("what the run should achieve; surrounding whitespace is trimmed");

export const goalBody = withActor(z.object({ goal, ...actorFields }).strict()).meta({ id: "GoalInput" });

export const createRunBody = withActor(
  z
    .object({
      goal,
      agent_id: text(1, 200).optional().describe("default: the tenant's default agent"),
      plan: z.object({ steps: z.array(z.record(z.string(), z.unknown())) }).loose().optional().describe("an explicit plan; without one, the planner plans the goal"),
      ...actorFields,
    })
    .strict(),
).meta({ id: "CreateRunInput" });

export const createAgentBody = z
  .object({
    name: statedText(1, MAX_NAME_CHARS).describe("surrounding whitespace is trimmed"),
    budget_cents: z.int().min(0).optional(),
    concurrent_runs_limit: z.int().min(1).max(1000).optional(),
    allowed_hosts: z
      .array(text(1, 260))
      .max(100)
      .optional()
      .describe("the only hosts the agent's steps may reach (host names or addresses, optionally :port); it narrows the egress floor, never opens it"),
  })
  .strict()
  .meta({ id: "AgentInput" });

const hostList = (what: string) => z.array(text(1, 260)).max(100).optional().describe(what);

export const updateAgentBody = z
  .object({
    name: statedText(1, MAX_NAME_CHARS).optional().describe("a new name, unique within the tenant; surrounding whitespace is trimmed"),
    budget_cents: z.int().min(0).nullable().optional().describe("the budget in whole cents; null removes it"),
    concurrent_runs_limit: z.int().min(1).max(1000).optional(),
    allowed_hosts: hostList("the whole list, replacing the agent's; [] lets its steps reach every host the egress floor lets through"),
    add_allowed_hosts: hostList("hosts to add to the list (those already in it are kept once)"),
    remove_allowed_hosts: hostList("hosts to take out of the list; each must be in it, and the last one only goes with allowed_hosts: []"),
  })
  .strict()
  .meta({ id: "AgentChanges" });

export const decisionBody = z
  .object({
    by: statedText(1, 200)
      .regex(/^\P{Cc}*$/u, "must hold no control character")
      .describe("who decides, as it is recorded; surrounding whitespace is trimmed"),
  })
  .strict()
  .meta({ id: "DecisionInput" });

export const listQuery = z
  .object({
    status: z.enum(RUN_STATUSES).optional(),
    limit: wholeNumber(z.int().min(1).max(500).default(50)),
  })
  .strict();

export const incidentsQuery = z
  .object({ run_id: text(1, 200).optional(), limit: wholeNumber(z.int().min(1).max(500).default(50)) })
  .strict();

export const agentQuery = z.object({ agent_id: text(1, 200).optional() }).strict();
