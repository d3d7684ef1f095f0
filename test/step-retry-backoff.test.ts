import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { claimRunById } from "../src/db/queries/run-status.js";
import { AppError } from "../src/errors.js";
import { getRunProof } from "../src/services/proofs.js";
import { createRun } from "../src/services/runs.js";
import { runWorker } from "../src/worker/loop.js";
import { executeClaimedRun } from "../src/worker/runner.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig, traceSteps } from "./support/harness.js";
import { tempDir } from "./support/temp-dirs.js";

// The backoff between a step's attempts (AOS_STEP_RETRY_BASE_MS) is cut short by the run's hold and by a stop
// request: a worker stopping during a ten-minute backoff hands the run back now, and a run whose lease is lost during
// one is dropped now, recording nothing more. Each test's only clock is vitest's timeout: a backoff waited out would
// take ten minutes.

const TEN_MINUTES = String(10 * 60_000);
/** One home (so one signing key) for both configurations. */
const home = { AOS_HOME: tempDir("aos-home"), AOS_WORKER_POLL_MS: "20", AOS_LEASE_MS: "2000" };
const patient = testConfig({ ...home, AOS_STEP_RETRY_BASE_MS: TEN_MINUTES, AOS_STEP_RETRY_MAX_MS: TEN_MINUTES });
const quick = testConfig(home);
/** Fails its first attempt (retryable), succeeds on the second; retry_count 2 allows three. */
const FLAKY = { steps: [{ step_id: "flaky", skill: "fail_trigger", params: { fail_times: 1 }, retry_count: 2 }] };

async function until(condition: () => Promise<boolean>, what: string, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

async function runRow(db: TestDatabase, runId: string) {
  const { rows } = await db.pool.query("select status, attempts, worker_id, next_seq from runs where id = $1", [runId]);
  return rows[0];
}

describeOnBackends("step-retry backoff on $name", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => db?.close());

  it("a worker stopped during a long backoff hands the run back at once; the next worker retries the step", { timeout: 60_000 }, async () => {
    const run = await createRun(runnerDeps(db, patient), { tenantId: "backoff-stop", goal: "g", plan: FLAKY });
    const stop = new AbortController();
    const worker = runWorker(runnerDeps(db, patient), { id: "w-backoff-stop", concurrency: 1, signal: stop.signal });
    await until(async () => (await runRow(db, run.id)).next_seq === 1, "the first attempt is recorded");
    stop.abort();
    expect(await worker).toMatchObject({ released: 1, finished: 0, lost: 0 });
    expect(await runRow(db, run.id)).toMatchObject({ status: "queued", attempts: 0, worker_id: null });
    expect((await traceSteps(db, run.id)).map((step) => [step.attempt, step.status])).toEqual([[1, "failed"]]);

    const resume = new AbortController();
    const next = runWorker(runnerDeps(db, quick), { id: "w-backoff-resume", concurrency: 1, signal: resume.signal });
    try {
      await until(async () => (await runRow(db, run.id)).status === "succeeded", "the resumed run succeeds");
    } finally {
      resume.abort();
    }
    expect(await next).toMatchObject({ finished: 1 });
    expect((await traceSteps(db, run.id)).map((step) => [step.attempt, step.status])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
    expect(await runRow(db, run.id)).toMatchObject({ attempts: 1 });
    expect((await getRunProof(db, quick, "backoff-stop", run.id)).verification_status).toBe("VERIFIED");
  });

  it("a stop request on the runner alone (Ctrl-C on aos run) releases the run during its backoff", { timeout: 60_000 }, async () => {
    const run = await createRun(runnerDeps(db, patient), { tenantId: "backoff-ctrl-c", goal: "g", plan: FLAKY });
    const claimed = await claimRunById(db.pool, run.id, "cli-test", 60_000);
    const stop = new AbortController();
    const deps = { ...runnerDeps(db, patient), stop: stop.signal, onStep: () => setImmediate(() => stop.abort()) };
    await expect(executeClaimedRun(deps, claimed!)).resolves.toEqual({ status: "released" });
    expect(await runRow(db, run.id)).toMatchObject({ status: "queued", attempts: 0 });
    expect(await traceSteps(db, run.id)).toHaveLength(1);
  });

  it("a lost lease during the backoff drops the run at once and records nothing more", { timeout: 60_000 }, async () => {
    const run = await createRun(runnerDeps(db, patient), { tenantId: "backoff-lost", goal: "g", plan: FLAKY });
    const claimed = await claimRunById(db.pool, run.id, "w-lost", 60_000);
    const hold = new AbortController();
    const lost = new AppError("LEASE_LOST", `run ${run.id} was lost: its lease could not be renewed in time`);
    const deps = { ...runnerDeps(db, patient), onStep: () => setImmediate(() => hold.abort(lost)) };
    await expect(executeClaimedRun(deps, claimed!, { signal: hold.signal })).rejects.toBe(lost);
    expect(await runRow(db, run.id)).toMatchObject({ status: "running", attempts: 1, worker_id: "w-lost", next_seq: 1 });
    expect((await traceSteps(db, run.id)).map((step) => [step.attempt, step.status])).toEqual([[1, "failed"]]);
  });
});
