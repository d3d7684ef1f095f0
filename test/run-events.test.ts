import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Config } from "../src/config.js";
import { followRun, type RunEvent } from "../src/services/run-events.js";
import { createRun } from "../src/services/runs.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig, traceSteps } from "./support/harness.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";
import { waitFor } from "./support/worker-process.js";

/**
 * The run's events as src/services/run-events.ts reads them from the database (what GET /runs/{id}/events streams
 * and the CLI prints), followed while the run executes: every attempt the policy engine allowed is told started once,
 * before its rows, with its decision; a step that stays in the process is told from the run's mark while it runs.
 */
describeOnBackends("a run's events on $name", (backend) => {
  let db: TestDatabase;
  let server: LoopbackServer;
  // Requests the server holds until the test answers them: a step that is running for as long as the test wants.
  const held: ServerResponse[] = [];
  const open: Config = testConfig({ AOS_EGRESS_ALLOW: "127.0.0.1" });
  const closed: Config = testConfig();

  beforeAll(async () => {
    db = await backend.open();
    server = await startLoopbackServer((_req, res) => held.push(res));
  });
  afterAll(async () => {
    for (const res of held) if (!res.writableEnded) sendJson(res, 200, {});
    await server?.close();
    await db?.close();
  });

  /** Collects a run's events as they come, until the run ends or `stop` is aborted. */
  async function collect(tenantId: string, runId: string, stop?: AbortSignal): Promise<{ events: RunEvent[]; done: Promise<void> }> {
    const events: RunEvent[] = [];
    const stream = await followRun(db.pool, tenantId, runId, { pollMs: 10, ...(stop === undefined ? {} : { stop }) });
    const done = (async () => {
      for await (const event of stream) events.push(event);
    })();
    return { events, done };
  }

  const keyOf = (event: RunEvent): string => {
    if (event.kind === "step_started") return `start ${event.started.stepId}/${event.started.attempt}`;
    if (event.kind === "step") return `${event.step.status} ${event.step.stepId}/${event.step.attempt}`;
    return `${event.kind} ${event.run.status}`;
  };

  it("tells each allowed attempt started once, before its rows and while it runs, with its decision; then the end", async () => {
    const tenantId = `events-${backend.name}`;
    const deps = runnerDeps(db, open);
    const run = await createRun(deps, {
      tenantId,
      goal: "retry, call, pick",
      plan: {
        steps: [
          { step_id: "flaky", skill: "fail_trigger", params: { fail_times: 1, retryable: true } },
          { step_id: "call", skill: "http_call", params: { url: `${server.url}/held`, method: "GET" } },
          { step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { b: "a" } } },
        ],
      },
    });
    const { events, done } = await collect(tenantId, run.id);
    const executed = claimAndExecute(deps, run.id, "events-test");
    // The call is told started while the server still holds it: the start comes before the step ends.
    await waitFor("the call is told started", async () => events.some((event) => keyOf(event) === "start call/1"));
    await waitFor("the call reaches the server", async () => held.length === 1);
    expect(events.map(keyOf)).not.toContain("succeeded call/1");
    expect((await traceSteps(db, run.id)).map((step) => `${step.status} ${step.stepId}/${step.attempt}`)).not.toContain("succeeded call/1");
    sendJson(held[0]!, 200, { ok: true });
    await executed;
    await done;

    // Which statuses a follower sees depends on when it reads (queued, running); the ending is always told last.
    expect(events[0]?.kind).toBe("status");
    expect(events.filter((event) => event.kind !== "status" || event.run.status === "succeeded").map(keyOf)).toEqual([
      "start flaky/1",
      "failed flaky/1",
      "start flaky/2",
      "succeeded flaky/2",
      "start call/1",
      "started call/1", // the intent row the call wrote before calling out: a `step` of its own
      "succeeded call/1",
      "start pick/1",
      "succeeded pick/1",
      "status succeeded",
      "end succeeded",
    ]);
    for (const event of events) {
      if (event.kind === "step_started") expect(event.started.decision).toMatchObject({ action: "allow", policy_id: expect.any(String) });
    }
  });

  it("tells a step that stays in the process started from the run's mark while it runs, before any row of it", async () => {
    const tenantId = `events-mark-${backend.name}`;
    const deps = runnerDeps(db, open);
    const run = await createRun(deps, {
      tenantId,
      goal: "wait",
      plan: { steps: [{ step_id: "wait", skill: "fail_trigger", params: { fail_times: 0, delay_ms: 60_000 } }] },
    });
    const stop = new AbortController();
    const { events, done } = await collect(tenantId, run.id, stop.signal);
    const hold = new AbortController();
    const executed = claimAndExecute(deps, run.id, "events-mark-test", hold.signal);
    const started = await waitFor("the step is told started", async () => events.find((event) => event.kind === "step_started"));
    // Nothing of the step is recorded yet: the start came from the run's mark, as the step runs.
    expect(await traceSteps(db, run.id)).toEqual([]);
    expect(started).toMatchObject({ kind: "step_started", started: { stepIndex: 0, stepId: "wait", skillName: "fail_trigger", attempt: 1 } });
    expect(started.kind === "step_started" && started.started.decision?.action).toBe("allow");
    // A second follower, joining while it runs, is told the same start.
    const late = await collect(tenantId, run.id, stop.signal);
    await waitFor("the late follower is told the start", async () => late.events.some((event) => event.kind === "step_started"));
    hold.abort(new Error("test stops the step"));
    expect(await executed).toEqual({ status: "released" });
    stop.abort();
    await Promise.all([done, late.done]);
    expect(events.filter((event) => event.kind === "step_started").length).toBe(1);
    expect(events.at(-1)).toMatchObject({ kind: "status", run: { status: "queued" } });
  });

  it("tells a denied step as its blocked row only: it never started", async () => {
    const tenantId = `events-denied-${backend.name}`;
    // Loopback stays behind the egress floor: the SSRF guard denies the call before it runs.
    const deps = runnerDeps(db, closed);
    const run = await createRun(deps, {
      tenantId,
      goal: "denied",
      plan: { steps: [{ step_id: "call", skill: "http_call", params: { url: `${server.url}/never`, method: "GET" } }] },
    });
    const { events, done } = await collect(tenantId, run.id);
    await claimAndExecute(deps, run.id, "events-denied-test");
    await done;
    expect(events.filter((event) => event.kind !== "status" || event.run.status === "halted").map(keyOf)).toEqual(["blocked call/1", "status halted", "end halted"]);
  });

  it("says Run not found for another tenant's run, before telling anything", async () => {
    const deps = runnerDeps(db, open);
    const run = await createRun(deps, { tenantId: `events-owner-${backend.name}`, goal: "g", plan: { steps: [{ step_id: "p", skill: "json_transform", params: { payload: {}, mapping: {} } }] } });
    await expect(followRun(db.pool, `events-other-${backend.name}`, run.id, { pollMs: 10 })).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });
});
