import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChaosCluster, startChaosCluster, takeFreeSlots } from "./support/chaos-cluster.js";
import { runCli, spawnCli } from "./support/cli.js";
import { onPrivateCluster } from "./support/private-cluster.js";
import { sharedHome, waitFor } from "./support/worker-process.js";

/**
 * `aos worker` started while the server has no free connection slot: it must say so (not "check DATABASE_URL"),
 * keep trying, and start once a slot frees up. On a private cluster, whose slots the test can fill.
 */
describe("a worker started while the server is full", onPrivateCluster(), () => {
  let chaos: ChaosCluster;
  let url: string;
  const fillers: pg.Client[] = [];

  beforeAll(async () => {
    chaos = await startChaosCluster(8, "aos-startup-test");
    url = chaos.workerUrl;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(fillers.map((client) => client.end().catch(() => undefined)));
    await chaos?.close();
  });

  it("names the condition, retries, and starts when a slot frees up; a wrong database still fails at once", { timeout: 90_000 }, async () => {
    // Every slot the role may use taken (the superuser's reserved ones stay free).
    fillers.push(...(await takeFreeSlots(url)));
    const { home } = sharedHome();
    const { child, output, exited } = spawnCli(["worker", "--concurrency", "1"], { AOS_HOME: home, DATABASE_URL: url, AOS_DB_CONNECT_RETRY_MS: "60000" });
    try {
      await waitFor("the worker says the server is full", async () => output.stderr.includes("too many connections"));
      expect(output.stderr).toMatch(/refused the connection: the server has no free connection slot \(too many connections\) \(SQLSTATE 53300\); try again shortly \(retrying in \d+ ms\)/);
      expect(output.stderr).not.toContain("check DATABASE_URL");
      expect(child.exitCode).toBeNull();
      await Promise.all(fillers.splice(0).map((client) => client.end()));
      await waitFor("the worker starts", async () => output.stderr.includes('"msg":"worker started"'));
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output.stderr).toBe(0);

    const wrong = await runCli(["list-runs", "--tenant-id", "t"], { AOS_HOME: home, DATABASE_URL: chaos.cluster.url("no_such_database", "aos") });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("the database does not exist): check DATABASE_URL");
  });
});
