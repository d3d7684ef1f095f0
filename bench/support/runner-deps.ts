import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { openServerDatabase } from "../../src/db/open-database.js";
import { silentLogger } from "../../src/logger.js";
import { loadKeyRing } from "../../src/trace/key-store.js";
import type { RunnerDeps } from "../../src/worker/runner.js";
import type { BenchServer } from "./benchmark.js";

/**
 * The environment a child `aos worker` needs to execute runs this process created: the same signing key
 * (AOS_SIGNING_KEY). Every process that creates or executes runs must hold it (docs/proofs.md, "Write-time
 * attestations"); a worker with a key of its own finds the rows' attestations made with another key and ends each
 * run `tampered`.
 */
export function sharedSigningKeyEnv(deps: RunnerDeps): { AOS_SIGNING_KEY: string } {
  const text = deps.config.signingKey ?? readFileSync(join(deps.config.home, "keys", "signing.key"), "utf8").trim();
  return { AOS_SIGNING_KEY: text };
}

/**
 * What the runner needs, on the bench database: a pool of the default size, a silent logger, and a signing key
 * in a home of its own, created on first use as `aos run` does. Everything is closed and removed afterwards.
 */
export async function withRunnerDeps<T>(
  server: BenchServer,
  work: (deps: RunnerDeps) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), "aos-bench-home-"));
  try {
    const config = loadConfig({ DATABASE_URL: server.url, AOS_HOME: home, ...env });
    const keys = loadKeyRing(config);
    const db = await openServerDatabase(server.url, config.dbPoolMax);
    try {
      return await work({ db, config, log: silentLogger, keys });
    } finally {
      await db.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
