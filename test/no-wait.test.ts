import { afterAll, describe, expect, it } from "vitest";
import { countLiveWorkers } from "../src/db/queries/workers.js";
import { runCli, tempHome, writePlan } from "./support/cli.js";
import { onServer, serverBackend, type TestDatabase } from "./support/databases.js";
import { killAllWorkers, sharedHome, startWorker, waitFor } from "./support/worker-process.js";

// `--no-wait` queues a run and returns. With no worker seen lately nothing would execute it, so the command says so
// on stderr and names how to start one; with a live worker it says nothing, and the worker executes the run.

const plan = { steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };
const NOTE = /^run (\S+) is queued, and no worker has been seen in the last 30 s to execute it: start one with `aos worker` \(or `aos dev` \/ `aos serve`, which run one\) on (.*)$/m;

afterAll(killAllWorkers);

describe("aos run --no-wait", () => {
  it("on the embedded database, with no worker: queued, exit 0, and stderr says how to start one on this AOS_HOME", { timeout: 300_000 }, async () => {
    const home = tempHome();
    const result = await runCli(["run", "--tenant-id", "demo", "--goal", "later", "--plan", writePlan(home, plan), "--no-wait", "--json"], { AOS_HOME: home });
    expect(result.code).toBe(0);
    const run = JSON.parse(result.stdout) as { run_id: string; status: string };
    expect(run.status).toBe("queued");
    expect(NOTE.exec(result.stderr)?.slice(1)).toEqual([run.run_id, `AOS_HOME=${home}`]);
  });

  it("on a server with a live worker: no note, and the worker executes the run", { ...onServer(), timeout: 300_000 }, async () => {
    const db: TestDatabase = await (serverBackend() as NonNullable<ReturnType<typeof serverBackend>>).open();
    try {
      const { home } = sharedHome();
      const env = { AOS_HOME: home, DATABASE_URL: db.url as string };
      const queuedAlone = await runCli(["run", "--tenant-id", "demo", "--goal", "alone", "--plan", writePlan(home, plan), "--no-wait"], env);
      expect(NOTE.exec(queuedAlone.stderr)?.[2]).toBe("this DATABASE_URL");
      startWorker({ id: "no-wait-worker", databaseUrl: db.url as string, home });
      await waitFor("the worker has registered", async () => (await countLiveWorkers(db.pool, 30_000)) > 0, { deadlineMs: 240_000 });
      const queued = await runCli(["run", "--tenant-id", "demo", "--goal", "worked", "--plan", writePlan(home, plan), "--no-wait", "--json"], env);
      expect([queued.code, queued.stderr]).toEqual([0, ""]);
      const runId = (JSON.parse(queued.stdout) as { run_id: string }).run_id;
      await waitFor("the worker executed the run", async () => {
        const shown = await runCli(["get-run", runId, "--tenant-id", "demo", "--json"], env);
        return (JSON.parse(shown.stdout) as { status: string }).status === "succeeded";
      }, { deadlineMs: 240_000, intervalMs: 200 });
    } finally {
      await killAllWorkers();
      await db.close();
    }
  });
});
