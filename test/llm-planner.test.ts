import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { loadConfig } from "../src/config.js";
import { AppError } from "../src/errors.js";
import type { ManifestEntry } from "../src/planner/manifest.js";
import { createAgent } from "../src/services/agents.js";
import { setPolicy } from "../src/services/policies.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun, getRunDetail } from "../src/services/runs.js";
import { PRICE_TABLE_VERSION } from "../src/price-table.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { type FakeModelApi, startFakeModelApi } from "./support/fake-model-apis.js";
import { chainProblems, runnerDeps, runToEnd, testConfig } from "./support/harness.js";

const ANTHROPIC_KEY = "sk-ant-planner-9c1e5b7f3a";
const OPENAI_KEY = "sk-proj-planner-2b8e6a0c4d";
const SONNET = "claude-sonnet-4-20250514";

let anthropic: FakeModelApi;
let openai: FakeModelApi;

beforeAll(async () => {
  anthropic = await startFakeModelApi("anthropic");
  openai = await startFakeModelApi("openai");
});
afterAll(async () => {
  await anthropic?.close();
  await openai?.close();
});

const anthropicPlanner = (env: Record<string, string> = {}): Config =>
  testConfig({ PLANNER_BACKEND: "anthropic", ANTHROPIC_API_KEY: ANTHROPIC_KEY, ANTHROPIC_BASE_URL: anthropic.baseUrl, ...env });

/** Two network-free steps, the second reading the first's result through a reference. */
const validPlan = {
  reasoning: "Pick the name out of the payload, then reshape it.",
  steps: [
    { step_id: "pick", skill: "json_transform", params: { payload: { user: { name: "Ada" } }, mapping: { name: "user.name" } }, on_error: "abort", output_key: "picked" },
    { step_id: "shape", skill: "json_transform", params: { payload: "{{picked}}", mapping: { who: "name" } }, on_error: "abort", depends_on: ["pick"] },
  ],
};
const answer = (text: string, inputTokens: number, outputTokens: number) => ({ text, inputTokens, outputTokens });
const planAnswer = (inputTokens: number, outputTokens: number) => answer(JSON.stringify(validPlan), inputTokens, outputTokens);

/** The manifest in a request's system prompt, as the model received it. */
function manifestSent(body: Record<string, unknown>): ManifestEntry[] {
  const system = typeof body.system === "string" ? body.system : ((body.messages as { role: string; content: string }[])[0]?.content ?? "");
  return JSON.parse(system.slice(system.indexOf("Skills (JSON):\n") + "Skills (JSON):\n".length)) as ManifestEntry[];
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("planner configuration", () => {
  it("defaults to the stub, and to each backend's default model", () => {
    expect(loadConfig({})).toMatchObject({ plannerBackend: "stub", plannerModel: undefined, plannerMaxTokens: 2048 });
    expect(loadConfig({ PLANNER_BACKEND: "anthropic" })).toMatchObject({ plannerModel: SONNET });
    expect(loadConfig({ PLANNER_BACKEND: "openai", PLANNER_MAX_TOKENS: "900" })).toMatchObject({ plannerModel: "gpt-4o", plannerMaxTokens: 900 });
  });

  it("refuses an unknown backend, an unpriced model (listing the priced ones) and a model without a backend", () => {
    expect(() => loadConfig({ PLANNER_BACKEND: "gemini" })).toThrow('PLANNER_BACKEND must be one of stub, anthropic, openai, got "gemini"');
    expect(() => loadConfig({ PLANNER_BACKEND: "anthropic", PLANNER_MODEL: "claude-sonnet-4-5" })).toThrow(
      new RegExp(`^PLANNER_MODEL "claude-sonnet-4-5" has no price for anthropic \\(price table ${PRICE_TABLE_VERSION}\\); priced models: claude-opus-4-20250514, `),
    );
    expect(() => loadConfig({ PLANNER_BACKEND: "openai", PLANNER_MODEL: SONNET })).toThrow(/priced models: gpt-4o, /);
    expect(() => loadConfig({ PLANNER_MODEL: "gpt-4o" })).toThrow(/PLANNER_MODEL is set but PLANNER_BACKEND is stub/);
    expect(() => loadConfig({ PLANNER_BACKEND: "openai", PLANNER_MAX_TOKENS: "0" })).toThrow(/PLANNER_MAX_TOKENS must be a whole number >= 1/);
  });
});

describeOnBackends("the LLM planner on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  const one = async (sql: string, params: unknown[]) => (await db.pool.query(sql, params)).rows[0];
  const spentOf = async (agentId: string) => Number((await one("select spent_cents from agents where id = $1", [agentId])).spent_cents);
  const llmRecordOf = (runId: string) => one("select * from llm_run_records where run_id = $1", [runId]);

  /** Everything stored about a run, as text, for checking that no key leaked into it. */
  async function storedText(runId: string): Promise<string> {
    const tables = ["runs where id", "llm_run_records where run_id", "incidents where source_run_id", "provenance where run_id", "prevention_records where run_id"];
    const rows = await Promise.all(tables.map(async (table) => (await db.pool.query(`select * from ${table} = $1`, [runId])).rows));
    return JSON.stringify(rows);
  }

  it("plans with Claude from the manifest, runs the plan, charges the agent and records exactly the planner's usage", async () => {
    const config = anthropicPlanner();
    const agent = await createAgent(db, { tenantId: "t-plan", name: "planner", budgetCents: 100 });
    anthropic.script(planAnswer(1234, 567));
    const detail = await runToEnd(db, config, { tenantId: "t-plan", agentId: agent.id, goal: "greet the user named in the payload" });

    expect(anthropic.requests).toHaveLength(1);
    const [sent] = anthropic.bodies();
    expect(sent).toMatchObject({ model: SONNET, max_tokens: 2048, messages: [{ role: "user", content: "Goal: greet the user named in the payload" }] });
    expect(manifestSent(sent!).map((entry) => entry.name)).toContain("json_transform");
    expect(manifestSent(sent!).find((entry) => entry.name === "json_transform")).toMatchObject({ version: "1.1.0", side_effects: "none" });

    // Sonnet 4: 1,234 × 300 + 567 × 1,500 micro-cents = 1,220,700, charged as 2 cents.
    const usage = {
      provider: "anthropic",
      model: SONNET,
      calls: 1,
      input_tokens: 1234,
      output_tokens: 567,
      cost_microcents: 1_220_700,
      cost_cents: 2,
      price_table_version: PRICE_TABLE_VERSION,
    };
    expect(detail.run.plan).toMatchObject({ planner: "anthropic", reasoning: validPlan.reasoning, planner_usage: usage });
    expect(detail.run.plan?.planner_usage?.prompt_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(detail.run.status).toBe("succeeded");
    expect(detail.steps.map((step) => [step.stepId, step.status])).toEqual([["pick", "succeeded"], ["shape", "succeeded"]]);
    expect(detail.steps[1]?.outcomeData).toEqual({ who: "Ada" });
    expect(detail.llm).toMatchObject({
      provider: "anthropic",
      model: SONNET,
      inputTokens: 1234,
      outputTokens: 567,
      costMicrocents: 1_220_700,
      costCents: 2,
      callCount: 1,
      status: "SUCCEEDED",
      priceTableVersion: PRICE_TABLE_VERSION,
      promptHash: detail.run.plan?.planner_usage?.prompt_hash,
    });
    expect(detail.evidence).toMatchObject({ observed: expect.arrayContaining(["llm_record"]) as string[] });
    expect(detail.run.costCents).toBe(2);
    expect(await spentOf(agent.id)).toBe(2);
    expect(Number((await one("select spent_cents from tenant_daily_spend where tenant_id = $1", ["t-plan"])).spent_cents)).toBe(2);

    // The usage is inside the plan, so inside the hash the trace header pins: the proof covers it.
    expect(chainProblems(detail)).toEqual([]);
    expect((await getRunProof(db, config, "t-plan", detail.run.id)).verification_status).toBe("VERIFIED");
    expect(await storedText(detail.run.id)).not.toContain(ANTHROPIC_KEY);
  });

  it("repairs an invalid first answer once: the issues go back to the model, and both calls are counted", async () => {
    const config = anthropicPlanner();
    const invalid = { steps: [{ step_id: "look", skill: "web_search", params: { q: "Ada" }, on_error: "abort" }] };
    anthropic.script(answer(JSON.stringify(invalid), 1000, 100), planAnswer(1500, 400));
    const detail = await runToEnd(db, config, { tenantId: "t-repair", goal: "greet Ada" });

    expect(detail.run.status).toBe("succeeded");
    expect(anthropic.requests).toHaveLength(2);
    const repair = anthropic.bodies()[1]!.messages as { role: string; content: string }[];
    expect(repair.map((message) => message.role)).toEqual(["user", "assistant", "user"]);
    expect(repair[1]?.content).toBe(JSON.stringify(invalid));
    expect(repair[2]?.content).toContain('steps[0].skill: unknown skill "web_search"');
    expect(repair[2]?.content).toContain("(UNKNOWN_SKILL)");
    const microcents = (1000 + 1500) * 300 + (100 + 400) * 1500;
    expect(detail.run.plan?.planner_usage).toMatchObject({ calls: 2, input_tokens: 2500, output_tokens: 500, cost_microcents: microcents, cost_cents: 2 });
    expect(detail.llm).toMatchObject({ callCount: 2, inputTokens: 2500, outputTokens: 500, costMicrocents: microcents, status: "SUCCEEDED" });
    expect(chainProblems(detail)).toEqual([]);
  });

  it("fails the run with plan_generation_failed when the repair is invalid too: no step, no fixed call, the cost still recorded", async () => {
    const config = anthropicPlanner();
    const agent = await createAgent(db, { tenantId: "t-invalid", name: "unlucky" });
    const retrying = { steps: [{ step_id: "zen", skill: "http_call", params: { url: "https://api.github.com/zen" }, on_error: "retry" }] };
    anthropic.script(answer("Sure! First I will look at the page.", 800, 50), answer(JSON.stringify(retrying), 900, 60));
    const error = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-invalid", agentId: agent.id, goal: "do something" }));

    expect(error.code).toBe("PLAN_INVALID");
    expect(error.message).toMatch(/^plan_generation_failed: steps\[0\]\.on_error: /);
    expect(anthropic.requests).toHaveLength(2);
    const runId = error.details?.run_id as string;
    const detail = await getRunDetail(db, config, "t-invalid", runId);
    expect(detail.run).toMatchObject({ status: "failed", plan: null, errorMessage: error.message, costCents: 1 });
    expect(detail.steps).toEqual([]);
    expect(detail.trace).toBeUndefined();
    const microcents = (800 + 900) * 300 + (50 + 60) * 1500;
    expect(await llmRecordOf(runId)).toMatchObject({
      provider: "anthropic",
      execution_status: "FAILED",
      call_count: 2,
      input_tokens: 1700,
      output_tokens: 110,
      cost_microcents: String(microcents),
      cost_cents: "1",
    });
    expect(detail.evidence).toMatchObject({ expected: expect.arrayContaining(["llm_record"]) as string[], observed: expect.arrayContaining(["llm_record"]) as string[] });
    expect(detail.incident).toMatchObject({ errorCode: "PLAN_INVALID" });
    expect(await spentOf(agent.id)).toBe(1);
    const { rows } = await db.pool.query("select count(*)::int as n from runs where tenant_id = $1", ["t-invalid"]);
    expect(rows[0].n).toBe(1);
    const httpSteps = await db.pool.query("select count(*)::int as n from aos_trace_steps where skill_name = 'http_call' and trace_id = $1", [`trace_${runId}`]);
    expect(httpSteps.rows[0].n).toBe(0);
  });

  it.each([
    [429, "rate_limit_error", "LLM_RATE_LIMITED"],
    [500, "api_error", "LLM_PROVIDER_ERROR"],
    [401, "authentication_error", "CREDENTIALS_REJECTED"],
  ])("fails the run when the model answers HTTP %i, with %s's code, asking once and falling back to nothing", async (status, type, code) => {
    const config = anthropicPlanner();
    const tenantId = `t-http-${status}`;
    anthropic.script({ status, type });
    const error = await rejection(createRun(runnerDeps(db, config), { tenantId, goal: "do something" }));

    expect(error.code).toBe(code);
    expect(error.message).toMatch(new RegExp(`^plan_generation_failed: the model call failed: ${code}: `));
    expect(error.message).toContain(type);
    expect(error.message).not.toContain(ANTHROPIC_KEY);
    expect(anthropic.requests).toHaveLength(1);
    const runId = error.details?.run_id as string;
    const detail = await getRunDetail(db, config, tenantId, runId);
    expect(detail.run).toMatchObject({ status: "failed", plan: null, errorMessage: error.message, costCents: 0 });
    expect(detail.steps).toEqual([]);
    expect(await llmRecordOf(runId)).toMatchObject({ execution_status: "FAILED", call_count: 1, input_tokens: 0, output_tokens: 0, cost_cents: "0" });
    expect(await storedText(runId)).not.toContain(ANTHROPIC_KEY);
  });

  it("keeps the first answer's cost when the repair request fails", async () => {
    const config = anthropicPlanner();
    anthropic.script(answer("not a plan", 2000, 10), { status: 529, type: "overloaded_error" });
    const error = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-repair-fails", goal: "do something" }));
    expect(error.code).toBe("LLM_PROVIDER_ERROR");
    expect(error.details?.issues).toMatchObject([{ code: "INVALID_JSON" }]);
    const record = await llmRecordOf(error.details?.run_id as string);
    expect(record).toMatchObject({ call_count: 2, input_tokens: 2000, output_tokens: 10, cost_microcents: String(2000 * 300 + 10 * 1500) });
  });

  it("refuses with CREDENTIALS_MISSING naming the key's variable, before any call and writing nothing", async () => {
    const config = testConfig({ PLANNER_BACKEND: "anthropic", ANTHROPIC_BASE_URL: anthropic.baseUrl, OPENAI_API_KEY: OPENAI_KEY });
    anthropic.script(planAnswer(1, 1));
    const error = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-nokey", goal: "do something" }));
    expect(error.code).toBe("CREDENTIALS_MISSING");
    expect(error.message).toContain("ANTHROPIC_API_KEY");
    expect(anthropic.requests).toHaveLength(0);
    expect((await one("select count(*)::int as n from runs where tenant_id = $1", ["t-nokey"])).n).toBe(0);
    expect((await one("select count(*)::int as n from tenants where id = $1", ["t-nokey"])).n).toBe(0);
  });

  it("calls no model for an agent with no budget left (BUDGET_EXCEEDED, nothing written)", async () => {
    const config = anthropicPlanner();
    const agent = await createAgent(db, { tenantId: "t-broke", name: "broke", budgetCents: 2 });
    anthropic.script(planAnswer(1234, 567));
    await runToEnd(db, config, { tenantId: "t-broke", agentId: agent.id, goal: "greet" });
    expect(await spentOf(agent.id)).toBe(2);

    anthropic.script(planAnswer(1234, 567));
    const error = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-broke", agentId: agent.id, goal: "greet again" }));
    expect(error.code).toBe("BUDGET_EXCEEDED");
    expect(error.message).toContain("no budget left (2c spent of 2c)");
    expect(anthropic.requests).toHaveLength(0);
    expect((await one("select count(*)::int as n from runs where agent_id = $1", [agent.id])).n).toBe(1);
    expect(await spentOf(agent.id)).toBe(2);
  });

  it("calls no model once the tenant's day is spent, or when the policy allows no skill to plan with", async () => {
    const config = anthropicPlanner();
    await setPolicy(db, { tenantId: "t-day", document: { caps: { tenant_daily_cost_cents: 2 } } });
    anthropic.script(planAnswer(1234, 567));
    await runToEnd(db, config, { tenantId: "t-day", goal: "greet" });
    anthropic.script(planAnswer(1234, 567));
    const spent = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-day", goal: "greet again" }));
    expect(spent.code).toBe("BUDGET_EXCEEDED");
    expect(spent.message).toMatch(/^tenant t-day has spent its daily cap \(2c of 2c on \d{4}-\d{2}-\d{2} UTC\)/);
    expect(anthropic.requests).toHaveLength(0);

    await setPolicy(db, { tenantId: "t-nothing", document: { allowed_skills: [] } });
    const nothing = await rejection(createRun(runnerDeps(db, config), { tenantId: "t-nothing", goal: "greet" }));
    expect(nothing.code).toBe("POLICY_VIOLATION");
    expect(nothing.message).toContain("allows no skill");
    expect(anthropic.requests).toHaveLength(0);
    expect((await one("select count(*)::int as n from runs where tenant_id = $1", ["t-nothing"])).n).toBe(0);
  });

  it("offers the model only the skills the agent's policy allows, and sends a disallowed choice back for repair", async () => {
    const config = anthropicPlanner();
    await setPolicy(db, { tenantId: "t-narrow", document: { allowed_skills: ["json_transform", "llm_invoke", "http_call"], require_approval: ["llm_invoke"] } });
    const agent = await createAgent(db, { tenantId: "t-narrow", name: "narrow" });
    await setPolicy(db, { tenantId: "t-narrow", agentId: agent.id, document: { allowed_skills: ["json_transform", "llm_invoke"] } });
    const fetching = { steps: [{ step_id: "f", skill: "http_call", params: { url: "https://example.com" }, on_error: "abort" }] };
    anthropic.script(answer(JSON.stringify(fetching), 10, 10), planAnswer(10, 10));
    const detail = await runToEnd(db, config, { tenantId: "t-narrow", agentId: agent.id, goal: "greet" });

    const manifest = manifestSent(anthropic.bodies()[0]!);
    expect(manifest.map((entry) => entry.name)).toEqual(["llm_invoke", "json_transform"]);
    expect(manifest.find((entry) => entry.name === "llm_invoke")?.requires_approval).toBe(true);
    expect(manifest[0]?.input_schema).toMatchObject({ type: "object" });
    const repair = (anthropic.bodies()[1]!.messages as { content: string }[])[2]?.content;
    expect(repair).toContain('skill "http_call" is not allowed for this agent; use one of: llm_invoke, json_transform');
    expect(detail.run.status).toBe("succeeded");
  });

  it("uses an explicit plan as given, calling no model", async () => {
    anthropic.script();
    const detail = await runToEnd(db, anthropicPlanner(), { tenantId: "t-explicit", goal: "g", plan: { steps: validPlan.steps } });
    expect(detail.run.plan?.planner).toBe("explicit");
    expect(detail.run.status).toBe("succeeded");
    expect(anthropic.requests).toHaveLength(0);
    expect(detail.llm).toBeUndefined();
  });

  it("plans with OpenAI end to end, adding llm_invoke's calls to the planner's in one record", async () => {
    const config = testConfig({ PLANNER_BACKEND: "openai", OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: openai.baseUrl });
    const withLocalModel = {
      reasoning: "Echo the greeting through the local model.",
      steps: [{ step_id: "say", skill: "llm_invoke", params: { provider: "local", messages: [{ role: "user", content: "hello there" }], max_tokens: 16 }, on_error: "abort" }],
    };
    openai.script(answer(`\`\`\`json\n${JSON.stringify(withLocalModel)}\n\`\`\``, 1000, 200));
    const run = await createRun(runnerDeps(db, config), { tenantId: "t-openai", goal: "say hello" });
    await claimAndExecute(runnerDeps(db, config), run.id, "test-worker");
    const detail = await getRunDetail(db, config, "t-openai", run.id);

    const [sent] = openai.bodies();
    expect(openai.requests[0]?.path).toBe("/v1/chat/completions");
    expect(openai.requests[0]?.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(sent).toMatchObject({ model: "gpt-4o", max_completion_tokens: 2048 });
    expect((sent!.messages as { role: string }[]).map((message) => message.role)).toEqual(["system", "user"]);
    // gpt-4o: 1,000 × 250 + 200 × 1,000 micro-cents = 450,000, charged as 1 cent; the local model is free.
    expect(detail.run.plan).toMatchObject({ planner: "openai", planner_usage: { provider: "openai", model: "gpt-4o", calls: 1, cost_microcents: 450_000, cost_cents: 1 } });
    expect(detail.run.status).toBe("succeeded");
    const local = detail.steps.find((step) => step.status === "succeeded")?.outcomeData as { input_tokens: number; output_tokens: number };
    expect(detail.llm).toMatchObject({
      provider: "mixed",
      model: "mixed",
      callCount: 2,
      inputTokens: 1000 + local.input_tokens,
      outputTokens: 200 + local.output_tokens,
      costMicrocents: 450_000,
      costCents: 1,
      status: "SUCCEEDED",
    });
    expect(chainProblems(detail)).toEqual([]);
    expect(await storedText(run.id)).not.toContain(OPENAI_KEY);
  });
});
