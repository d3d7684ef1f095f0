import { type Config, loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { type CreateRunInput, createRun, getRunDetail } from "../../src/services/runs.js";
import type { RunDetail } from "../../src/views/run.js";
import { listStepRows } from "../../src/db/queries/trace-steps.js";
import { traceIdFor, type TraceStep } from "../../src/glossary.js";
import { stepOfRow } from "../../src/proof/stored-trace.js";
import { loadKeyRing } from "../../src/trace/key-store.js";
import { ownerDatabase } from "../../src/db/tenant-scope.js";
import { integrateTenantLog } from "../../src/tenant-log/integrate.js";
import { sequencerDeps, sequencerFor } from "../../src/tenant-log/sequencer.js";
import { claimAndExecute } from "../../src/worker/claim.js";
import type { RunnerDeps } from "../../src/worker/runner.js";
import { tempDir } from "./temp-dirs.js";

/** Configuration for tests: a private AOS_HOME (removed after the test file) and step retries in milliseconds. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    AOS_HOME: env.AOS_HOME ?? tempDir("aos-home"),
    AOS_STEP_RETRY_BASE_MS: "5",
    AOS_STEP_RETRY_MAX_MS: "20",
    ...env,
  });
}

/**
 * A goal the stub planner plans into a plan that does not validate (the URL it finds does not parse): how a test gets
 * a run whose planning failed, recorded failed. An explicit plan that does not validate is refused, recording nothing.
 */
export const UNPLANNABLE_GOAL = "Fetch https://[::1";

/** What the runner (and createRun) needs in tests: the test database, a silent logger, and the test home's keys. */
export function runnerDeps(db: Database, config: Config): RunnerDeps {
  return { db, config, log: silentLogger, keys: loadKeyRing(config) };
}

/** Creates a run and executes it in-process through the worker's claim, then logs it under a tenant checkpoint, as `aos run` does. */
export async function runToEnd(db: Database, config: Config, input: CreateRunInput): Promise<RunDetail> {
  const deps = runnerDeps(db, config);
  const run = await createRun(deps, input);
  await claimAndExecute(deps, run.id, "test-worker");
  await sequencerFor(db, config, deps.keys, silentLogger).settle(input.tenantId);
  return getRunDetail(db, config, input.tenantId, run.id);
}

/** Integrates a tenant's queued entries and signs a checkpoint over them, whatever the cadence: its runs are then `included`. */
export async function checkpointTenantLog(db: Database, config: Config, tenantId: string): Promise<void> {
  const owner = ownerDatabase(db);
  const deps = sequencerDeps(owner, config, loadKeyRing(config), silentLogger);
  const result = await integrateTenantLog(owner, deps, tenantId, { forceCheckpoint: true });
  if (result.status !== "done") throw new Error(`tenant ${tenantId}'s log is busy`);
}

/** Whether the run's stored trace verifies (or, unfinished, checks as a prefix); the problem when it does not. */
export function chainProblems(detail: RunDetail): string[] {
  const verdict = detail.proof?.verdict;
  if (verdict === undefined) return ["no trace"];
  return verdict.status === "VERIFIED" || verdict.status === "INCOMPLETE" ? [] : [`${verdict.status}: ${verdict.failureReason}`];
}

/** A run's recorded steps, each as readers show it (from its bytes). */
export async function traceSteps(db: Database, runId: string): Promise<TraceStep[]> {
  return (await listStepRows(db.pool, traceIdFor(runId))).map(stepOfRow);
}
