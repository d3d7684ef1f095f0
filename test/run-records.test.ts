import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { createAgent } from "../src/services/agents.js";
import { setPolicy } from "../src/services/policies.js";
import { createRun } from "../src/services/runs.js";
import { PRICE_TABLE_VERSION } from "../src/price-table.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { incidentId } from "../src/records/run-records.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, runToEnd, testConfig, UNPLANNABLE_GOAL } from "./support/harness.js";

const config = testConfig();
const transform = (stepId: string) => ({ step_id: stepId, skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } });
const failing = { step_id: "boom", skill: "fail_trigger", params: { retryable: false } };
const costly = (stepId: string, cost: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, cost_cents: cost } });

const ask = (stepId: string, content: string) => ({
  step_id: stepId,
  skill: "llm_invoke",
  params: { provider: "local", messages: [{ role: "user", content }], max_tokens: 64 },
});

async function llmRecordsOf(db: TestDatabase, runId: string) {
  return (await db.pool.query("select * from llm_run_records where run_id = $1", [runId])).rows;
}

async function recordsOf(db: TestDatabase, runId: string) {
  const count = async (sql: string) => (await db.pool.query(sql, [runId])).rows[0].n as number;
  const incidents = (await db.pool.query("select * from incidents where source_run_id = $1", [runId])).rows;
  const evidence = (await db.pool.query("select * from integrity_evidence where run_id = $1", [runId])).rows;
  return {
    incidents,
    evidence,
    summaries: await count("select count(*)::int as n from prevention_records where run_id = $1 and kind = 'run_summary'"),
    decisions: await count("select count(*)::int as n from prevention_records where run_id = $1 and kind = 'decision'"),
    provenance: await count("select count(*)::int as n from provenance where run_id = $1"),
    memories: await count("select count(*)::int as n from memories where run_id = $1"),
  };
}

describeOnBackends("the records every terminal run leaves, on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("succeeded: one closed SUCCESS incident, a no_violation summary, valid evidence, provenance, memories", async () => {
    const detail = await runToEnd(db, config, { tenantId: "t-rec", goal: "g", plan: { steps: [transform("a"), transform("b")] } });
    const records = await recordsOf(db, detail.run.id);
    expect(records.incidents).toHaveLength(1);
    expect(records.incidents[0]).toMatchObject({
      id: incidentId(detail.run.id),
      outcome: "SUCCESS",
      severity: "NONE",
      status: "CLOSED",
      category: "EXECUTION_SUCCESS",
    });
    expect(records.incidents[0].id).toMatch(/^inc_[0-9a-f]{16}$/);
    expect(records.evidence).toHaveLength(1);
    expect(records.evidence[0]).toMatchObject({ id: `ie-${detail.run.id}`, integrity_status: "VALID", integrity_score: 1 });
    expect([records.summaries, records.decisions, records.provenance, records.memories]).toEqual([1, 0, 1, 2]);
  });

  const paths: [string, () => Promise<string>, Record<string, unknown>, number][] = [
    [
      "failed",
      async () => (await runToEnd(db, config, { tenantId: "t-rec", goal: "g", plan: { steps: [failing] } })).run.id,
      { outcome: "FAILURE", severity: "HIGH", category: "EXECUTION_FAILURE", error_code: "STEP_FAILURE", status: "OPEN" },
      0,
    ],
    [
      "halted by policy",
      async () => {
        await setPolicy(db, { tenantId: "t-rec-policy", document: { allowed_skills: ["json_transform"] } });
        return (await runToEnd(db, config, { tenantId: "t-rec-policy", goal: "g", plan: { steps: [failing] } })).run.id;
      },
      { outcome: "BLOCKED", severity: "MEDIUM", category: "POLICY_VIOLATION", error_code: "POLICY_VIOLATION" },
      1,
    ],
    [
      "halted by budget",
      async () => {
        const agent = await createAgent(db, { tenantId: "t-rec", name: "poor", budgetCents: 1 });
        return (await runToEnd(db, config, { tenantId: "t-rec", agentId: agent.id, goal: "g", plan: { steps: [costly("c", 5)] } })).run.id;
      },
      { outcome: "BLOCKED", severity: "MEDIUM", category: "BUDGET_EXCEEDED", error_code: "BUDGET_EXCEEDED" },
      1,
    ],
    [
      "failed at planning",
      async () => {
        const error = await createRun(runnerDeps(db, config), { tenantId: "t-rec", goal: UNPLANNABLE_GOAL }).catch((e) => e);
        return error.details.run_id as string;
      },
      { outcome: "FAILURE", category: "EXECUTION_FAILURE", error_code: "PLAN_INVALID" },
      0,
    ],
  ];
  it.each(paths)("%s: exactly one incident, one summary, one evidence row", async (_path, makeRun, incident, decisions) => {
    const runId = await makeRun();
    const records = await recordsOf(db, runId);
    expect(records.incidents).toHaveLength(1);
    expect(records.incidents[0]).toMatchObject(incident);
    expect(records.evidence).toHaveLength(1);
    expect(records.summaries).toBe(1);
    expect(records.decisions).toBe(decisions);
    expect(records.provenance).toBe(1);
  });

  it("a run that never executed has FAILED evidence naming what is missing and why", async () => {
    const error = await createRun(runnerDeps(db, config), { tenantId: "t-rec", goal: UNPLANNABLE_GOAL }).catch((e) => e);
    const { evidence } = await recordsOf(db, error.details.run_id);
    expect(evidence[0]).toMatchObject({ integrity_status: "FAILED", missing_artifacts: ["aos_traces", "aos_trace_steps", "checkpoint"] });
    expect(evidence[0].missing_reasons.aos_traces).toMatch(/never executed/);
  });

  it("a failed record write fails the whole finalizing transaction: nothing of it is committed", async () => {
    const run = await createRun(runnerDeps(db, config), { tenantId: "t-rec", goal: "g", plan: { steps: [transform("a")] } });
    const other = await runToEnd(db, config, { tenantId: "t-rec", goal: "other", plan: { steps: [transform("a")] } });
    // Occupy the incident id this run will need, so its incident insert fails inside finalization.
    await db.pool.query("update incidents set id = $1 where source_run_id = $2", [incidentId(run.id), other.run.id]);
    const claimed = await claimRunById(db.pool, run.id, "w", 30_000);
    await expect(executeClaimedRun(runnerDeps(db, config), claimed!)).rejects.toThrow();
    const state = await db.pool.query(
      `select r.status as run_status, t.status as trace_status, t.root_hash,
         (select count(*)::int from aos_checkpoints c where c.run_id = r.id) as checkpoints,
         (select count(*)::int from integrity_evidence e where e.run_id = r.id) as evidence,
         (select count(*)::int from prevention_records p where p.run_id = r.id) as prevention
       from runs r join aos_traces t on t.run_id = r.id where r.id = $1`,
      [run.id],
    );
    expect(state.rows[0]).toEqual({ run_status: "running", trace_status: "running", root_hash: null, checkpoints: 0, evidence: 0, prevention: 0 });
  });

  it("a run that called a model leaves one LLM record summing its calls, expected and observed in its evidence", async () => {
    const detail = await runToEnd(db, config, {
      tenantId: "t-llm",
      goal: "g",
      plan: { steps: [ask("first", "Summarise the order."), transform("between"), ask("second", "And now in one word.")] },
    });
    expect(detail.run.status).toBe("succeeded");
    const calls = detail.steps.filter((step) => step.skillName === "llm_invoke" && step.status !== "started");
    const results = calls.map((step) => step.outcomeData as { input_tokens: number; output_tokens: number; prompt_hash: string });
    const rows = await llmRecordsOf(db, detail.run.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      tenant_id: "t-llm",
      trace_id: detail.trace?.traceId,
      provider: "local",
      model: "local-echo",
      execution_status: "SUCCEEDED",
      source: "WORKER",
      call_count: 2,
      input_tokens: results[0]!.input_tokens + results[1]!.input_tokens,
      output_tokens: results[0]!.output_tokens + results[1]!.output_tokens,
      price_table_version: PRICE_TABLE_VERSION,
    });
    expect(Number(rows[0].cost_cents)).toBe(calls.reduce((sum, step) => sum + step.costCents, 0));
    expect(rows[0].prompt_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].prompt_hash).not.toBe(results[0]!.prompt_hash);
    const { evidence } = await recordsOf(db, detail.run.id);
    expect(evidence[0].expected_artifacts).toContain("llm_record");
    expect(evidence[0].observed_artifacts).toContain("llm_record");
    expect(evidence[0].integrity_status).toBe("VALID");
  });

  it("an LLM record is FAILED when its run failed, ABORTED when a budget halted it, and absent when no model ran", async () => {
    const failed = await runToEnd(db, config, { tenantId: "t-llm", goal: "g", plan: { steps: [ask("a", "hello"), failing] } });
    expect((await llmRecordsOf(db, failed.run.id))[0]).toMatchObject({ execution_status: "FAILED", call_count: 1 });
    const agent = await createAgent(db, { tenantId: "t-llm", name: "thrifty", budgetCents: 5 });
    const halted = await runToEnd(db, config, {
      tenantId: "t-llm",
      agentId: agent.id,
      goal: "g",
      plan: { steps: [ask("a", "hello"), costly("pricey", 9), ask("b", "never asked")] },
    });
    expect(halted.run.status).toBe("halted");
    expect((await llmRecordsOf(db, halted.run.id))[0]).toMatchObject({ execution_status: "ABORTED", call_count: 1 });
    const none = await runToEnd(db, config, { tenantId: "t-llm", goal: "g", plan: { steps: [transform("a")] } });
    expect(await llmRecordsOf(db, none.run.id)).toHaveLength(0);
    const { evidence } = await recordsOf(db, none.run.id);
    expect(evidence[0].expected_artifacts).not.toContain("llm_record");
  });

  it("LLM records are write-once: no update, no delete", async () => {
    const detail = await runToEnd(db, config, { tenantId: "t-llm", goal: "g", plan: { steps: [ask("a", "hello")] } });
    await expect(db.pool.query("update llm_run_records set cost_cents = 0 where run_id = $1", [detail.run.id])).rejects.toThrow(
      /S6_IMMUTABILITY_VIOLATION/,
    );
    await expect(db.pool.query("delete from llm_run_records where run_id = $1", [detail.run.id])).rejects.toThrow(/S6_IMMUTABILITY_VIOLATION/);
  });
});
