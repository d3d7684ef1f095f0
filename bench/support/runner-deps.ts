import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { openServerDatabase } from "../../src/db/open-database.js";
import { silentLogger } from "../../src/logger.js";
import { loadKeyRing } from "../../src/trace/key-store.js";
import type { RunnerDeps } from "../../src/worker/runner.js";
import type { BenchServer } from "./benchmark.js";

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
    const signer = loadKeyRing(config).signer;
    const db = await openServerDatabase(server.url, config.dbPoolMax);
    try {
      return await work({ db, config, log: silentLogger, signer });
    } finally {
      await db.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
