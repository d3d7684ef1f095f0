import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent } from "../src/services/agents.js";
import { getRunProof } from "../src/services/proofs.js";
import { PRICE_TABLE_VERSION } from "../src/price-table.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { type FakeModelApi, startFakeModelApi } from "./support/fake-model-apis.js";
import { runToEnd, testConfig } from "./support/harness.js";

// llm_invoke through the official SDKs against fake Anthropic and OpenAI servers on loopback, run by the real
// runner: each step is charged its exact cost rounded up to a cent, and the run's one LLM record holds the exact
// tokens and micro-cents of both calls.

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

const ask = (stepId: string, provider: string, model: string) => ({
  step_id: stepId,
  skill: "llm_invoke",
  params: { provider, model, messages: [{ role: "user", content: `question for ${provider}` }], max_tokens: 800 },
});

describeOnBackends("the LLM record of a run on $name", (backend) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("sums both providers' exact tokens and micro-cents; each step is charged its cost rounded up to a cent", async () => {
    const config = testConfig({
      AOS_EGRESS_ALLOW: "127.0.0.1",
      ANTHROPIC_API_KEY: "sk-ant-record-test",
      ANTHROPIC_BASE_URL: anthropic.baseUrl,
      OPENAI_API_KEY: "sk-openai-record-test",
      OPENAI_BASE_URL: openai.baseUrl,
    });
    anthropic.script({ text: "Claude's answer", inputTokens: 1000, outputTokens: 200 });
    openai.script({ text: "GPT's answer", inputTokens: 2000, outputTokens: 500 });
    const tenantId = `tenant-llm-record-${backend.name}`;
    const agent = await createAgent(db, { tenantId, name: "asker", budgetCents: 100, allowedHosts: ["127.0.0.1"] });
    const plan = { steps: [ask("claude", "anthropic", "claude-sonnet-4-20250514"), ask("gpt", "openai", "gpt-4o-mini")] };

    const detail = await runToEnd(db, config, { tenantId, agentId: agent.id, goal: "ask two models", plan });

    expect(detail.run.status).toBe("succeeded");
    // Sonnet 4: 1000 × 300 + 200 × 1500 = 600,000 µ¢; GPT-4o mini: 2000 × 15 + 500 × 60 = 60,000 µ¢.
    const executed = detail.steps.filter((step) => step.status === "succeeded");
    expect(executed.map((step) => [step.stepId, step.costCents, step.tokens])).toEqual([
      ["claude", 1, 1200],
      ["gpt", 1, 2500],
    ]);
    expect(executed.map((step) => (step.outcomeData as { cost_microcents: number }).cost_microcents)).toEqual([600_000, 60_000]);
    expect(detail.llm).toMatchObject({
      provider: "mixed",
      model: "mixed",
      callCount: 2,
      inputTokens: 3000,
      outputTokens: 700,
      costMicrocents: 660_000,
      costCents: 2,
      priceTableVersion: PRICE_TABLE_VERSION,
      status: "SUCCEEDED",
    });
    expect(detail.run.costCents).toBe(2);
    expect(detail.agent?.spentCents).toBe(2);
    expect(anthropic.bodies()[0]).toMatchObject({ model: "claude-sonnet-4-20250514", max_tokens: 800 });
    expect(openai.bodies()[0]).toMatchObject({ model: "gpt-4o-mini" });
    expect((await getRunProof(db, config, tenantId, detail.run.id)).verification_status).toBe("VERIFIED");
  });
});
