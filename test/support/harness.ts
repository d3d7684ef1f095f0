import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { type CreateRunInput, createRun, getRunDetail, type RunDetail } from "../../src/services/runs.js";
import { contentOf } from "../../src/trace/step-content.js";
import { headerOf } from "../../src/services/proofs.js";
import { chainGenesis, chainNext, leafHash } from "../../src/trace/step-hash.js";
import { loadKeyRing } from "../../src/trace/key-store.js";
import { claimAndExecute } from "../../src/worker/claim.js";
import type { RunnerDeps } from "../../src/worker/runner.js";

/** Configuration for tests: a private AOS_HOME and step retries measured in milliseconds. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    AOS_HOME: mkdtempSync(join(tmpdir(), "aos-home-")),
    AOS_STEP_RETRY_BASE_MS: "5",
    AOS_STEP_RETRY_MAX_MS: "20",
    ...env,
  });
}

/** What the runner needs in tests: the test database, a silent logger, and the test home's signing key. */
export function runnerDeps(db: Database, config: Config): RunnerDeps {
  return { db, config, log: silentLogger, signer: loadKeyRing(config).signer };
}

/** Creates a run and executes it in-process through the worker's claim, as `aos run` does. */
export async function runToEnd(db: Database, config: Config, input: CreateRunInput): Promise<RunDetail> {
  const run = await createRun(db, config, input);
  await claimAndExecute(runnerDeps(db, config), run.id, "test-worker");
  return getRunDetail(db, input.tenantId, run.id);
}

/** Recomputes every leaf hash from the stored content and the chain from the trace header; returns problems. */
export function chainProblems(detail: RunDetail): string[] {
  const { run, trace, steps } = detail;
  if (trace === undefined || run.plan === null) return ["no trace or plan"];
  const problems: string[] = [];
  let head = chainGenesis(headerOf(run, trace));
  steps.forEach((step, index) => {
    if (step.seq !== index) problems.push(`seq ${step.seq} at position ${index}`);
    const leaf = leafHash(contentOf(step));
    if (leaf !== step.leafHash) problems.push(`seq ${step.seq}: leaf hash does not recompute`);
    head = chainNext(head, leaf);
    if (head !== step.chainHash) problems.push(`seq ${step.seq}: chain hash does not link`);
  });
  if (trace.rootHash !== null && trace.rootHash !== head) problems.push("root_hash is not the chain head");
  return problems;
}
