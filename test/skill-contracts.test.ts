import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FAILURE_CATALOG, isFailureCode } from "../src/failure-catalog.js";
import type { Skill } from "../src/skills/contract.js";
import { describeSkill, listSkills } from "../src/skills/registry.js";
import { skillContext } from "./support/skill-context.js";

// Every registered skill against the contract in src/skills/contract.ts and its page in docs/skills/. The tables
// below name each skill: a skill registered without an entry fails here, so it cannot ship without an example, a
// checked failure and a page.

/** One valid input per skill, as a plan would give it (defaults left out). */
const EXAMPLES: Record<string, Record<string, unknown>> = {
  http_call: { url: "https://api.example.com/orders/A-1001", method: "GET", timeout_ms: 5000 },
  webhook_send: { url: "https://hooks.example.com/in", payload: { event: "order.summarised", order_id: "A-1001" } },
  slack_send: { text: "Order A-1001 shipped", icon_emoji: ":package:" },
  llm_invoke: {
    provider: "anthropic",
    system_prompt: "Answer in one sentence.",
    messages: [{ role: "user", content: "Summarise order A-1001: 2 tea, 3 scones." }],
    max_tokens: 256,
  },
  json_transform: { payload: { order: { id: "A-1001", items: [{ sku: "tea" }] } }, mapping: { id: "order.id", first: "order.items[0].sku" } },
  postgres_query: { query: "select id, total_cents from orders where id = $1", params: ["A-1001"], max_rows: 10 },
  kv_store: { op: "set", namespace: "orders", key: "A-1001", value: { state: "notified" }, ttl_seconds: 3600 },
  email_send: { to: "ada@example.com", subject: "Your order A-1001", text: "It has shipped." },
  calendar_write: { title: "Tea tasting", start: "2025-03-01T09:00:00+01:00", duration_minutes: 60, attendees: ["ada@example.com"] },
  voyage_embed: { texts: ["two teas and three scones"], model: "voyage-3", input_type: "document" },
  fail_trigger: { error_code: "HTTP_5XX", delay_ms: 20, fail_times: 1, cost_cents: 3, tokens: 40 },
};

/**
 * How each skill fails with no peer to talk to, in the test context (no settings, no allowed hosts, no stores):
 * missing configuration, a refused target, a bad path. `mentions` are what the message must name (the variable
 * to set). `retryable` is given only where the skill documents an override of its code's catalog retryability.
 */
interface OfflineFailure {
  input: Record<string, unknown>;
  code: string;
  mentions?: string[];
  retryable?: boolean;
}

const OFFLINE_FAILURES: Record<string, OfflineFailure> = {
  // 127.0.0.1 is an IP literal: the SSRF guard refuses it without DNS, and nothing is connected to.
  http_call: { input: { url: "http://127.0.0.1:9/orders" }, code: "FORBIDDEN_TARGET", mentions: ["127.0.0.1"] },
  webhook_send: { input: EXAMPLES.webhook_send!, code: "CREDENTIALS_MISSING", mentions: ["WEBHOOK_SECRET"] },
  slack_send: { input: EXAMPLES.slack_send!, code: "CREDENTIALS_MISSING", mentions: ["SLACK_WEBHOOK_URL"] },
  llm_invoke: { input: EXAMPLES.llm_invoke!, code: "CREDENTIALS_MISSING", mentions: ["ANTHROPIC_API_KEY"] },
  json_transform: { input: { payload: { order: {} }, mapping: { id: "order.id" } }, code: "TRANSFORM_PATH_MISSING", mentions: ["order.id"] },
  postgres_query: { input: EXAMPLES.postgres_query!, code: "CREDENTIALS_MISSING", mentions: ["POSTGRES_QUERY_URL"] },
  // The runner always wires a store in; a context without one is the skill's only failure without a peer.
  kv_store: { input: EXAMPLES.kv_store!, code: "INTERNAL", mentions: ["no store"] },
  email_send: { input: EXAMPLES.email_send!, code: "CREDENTIALS_MISSING", mentions: ["EMAIL_FROM", "SMTP_URL", "RESEND_API_KEY"] },
  // Likewise: the runner wires a calendar store in.
  calendar_write: { input: EXAMPLES.calendar_write!, code: "INTERNAL", mentions: ["no calendar store"] },
  voyage_embed: { input: EXAMPLES.voyage_embed!, code: "CREDENTIALS_MISSING", mentions: ["VOYAGE_API_KEY"] },
  fail_trigger: { input: {}, code: "INJECTED_FAILURE", mentions: ["attempt 1"] },
};

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

interface ObjectSchema {
  type?: string;
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
  oneOf?: ObjectSchema[];
  anyOf?: ObjectSchema[];
}

/** The object schemas an input may take: the schema itself, or each branch of a union (kv_store's ops). */
function objectBranches(schema: ObjectSchema): ObjectSchema[] {
  const branches = schema.oneOf ?? schema.anyOf;
  return branches === undefined ? [schema] : branches.flatMap(objectBranches);
}

function topLevelProperties(schema: ObjectSchema): string[] {
  return [...new Set(objectBranches(schema).flatMap((branch) => Object.keys(branch.properties ?? {})))];
}

function docsPage(name: string): string | undefined {
  const path = new URL(`../docs/skills/${name}.md`, import.meta.url);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

const skills = listSkills();

describe("the skill tables of this test", () => {
  it("have an example input and an offline failure for every registered skill, and nothing else", () => {
    const names = skills.map((skill) => skill.name).sort();
    expect(Object.keys(EXAMPLES).sort()).toEqual(names);
    expect(Object.keys(OFFLINE_FAILURES).sort()).toEqual(names);
  });
});

describe.each(skills.map((skill) => [skill.name, skill] as const))("the %s contract", (name, skill: Skill<unknown>) => {
  it("has a semver version and only failure codes from the catalog", () => {
    expect(skill.version).toMatch(SEMVER);
    expect(skill.failureCodes.length).toBeGreaterThan(0);
    expect(skill.failureCodes.filter((code) => !isFailureCode(code))).toEqual([]);
    expect(new Set(skill.failureCodes).size).toBe(skill.failureCodes.length);
  });

  it("describes itself with a JSON schema of strict objects", () => {
    const contract = describeSkill(skill);
    expect(contract).toMatchObject({ name, version: skill.version, failure_codes: skill.failureCodes });
    const schema = contract.input_schema as ObjectSchema & { $schema?: string };
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    for (const branch of objectBranches(schema)) {
      expect(branch.type).toBe("object");
      expect(branch.additionalProperties).toBe(false);
    }
    expect(topLevelProperties(schema).length).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(contract))).toEqual(contract);
  });

  it("accepts its example, estimates it in non-negative whole numbers, and rejects an unknown key", () => {
    const example = EXAMPLES[name];
    expect(example, `add an example input for ${name} to EXAMPLES`).toBeDefined();
    const parsed = skill.input.safeParse(example);
    expect(parsed.error?.issues ?? []).toEqual([]);
    const input = parsed.data;
    const estimates = [skill.estimateCostCents(input), skill.estimateLatencyMs(input), skill.estimateTokens?.(input) ?? 0];
    for (const estimate of estimates) {
      expect(Number.isInteger(estimate)).toBe(true);
      expect(estimate).toBeGreaterThanOrEqual(0);
    }

    const misspelt = skill.input.safeParse({ ...example, not_a_param: 1 });
    expect(misspelt.success).toBe(false);
    expect(misspelt.error?.issues).toContainEqual(expect.objectContaining({ code: "unrecognized_keys", keys: ["not_a_param"] }));
  });

  it("has a page in docs/skills/ naming every input property and every failure code", () => {
    const page = docsPage(name);
    expect(page, `write docs/skills/${name}.md`).toBeDefined();
    const properties = topLevelProperties(describeSkill(skill).input_schema as ObjectSchema);
    expect(properties.filter((property) => !page?.includes(`\`${property}\``))).toEqual([]);
    expect(skill.failureCodes.filter((code) => !page?.includes(`\`${code}\``))).toEqual([]);
    expect(readFileSync(new URL("../docs/skills/README.md", import.meta.url), "utf8")).toContain(`(${name}.md)`);
  });

  it("fails offline with the one outcome shape, its category and retryability from the catalog", async () => {
    const offline = OFFLINE_FAILURES[name];
    expect(offline, `add the offline failure of ${name} to OFFLINE_FAILURES`).toBeDefined();
    if (offline === undefined) return;
    const outcome = await skill.execute(skill.input.parse(offline.input), skillContext());

    const entry = FAILURE_CATALOG[offline.code as keyof typeof FAILURE_CATALOG];
    expect(outcome).toEqual({
      status: "error",
      ...(outcome.result === undefined ? {} : { result: outcome.result }),
      error: {
        code: offline.code,
        message: expect.any(String),
        category: entry.category,
        retryable: offline.retryable ?? entry.retryable,
        ...(outcome.status === "error" && outcome.error.details !== undefined ? { details: expect.any(Object) } : {}),
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    expect(skill.failureCodes).toContain(offline.code);
    const message = outcome.status === "error" ? outcome.error.message : "";
    for (const mention of offline.mentions ?? []) expect(message).toContain(mention);
  });
});
