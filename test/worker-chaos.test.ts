import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { openServerDatabase } from "../src/db/open-database.js";
import type { Run } from "../src/glossary.js";
import { createAgent } from "../src/services/agents.js";
import { aosDatabaseOn, fillConnectionSlots } from "./support/cluster-database.js";
import { serverBackend } from "./support/databases.js";
import { type PrivateCluster, privateClusterAvailable, startPrivateCluster } from "./support/private-cluster.js";
import {
  backendsOf,
  duplicateOutcomeRows,
  killAllWorkers,
  logTails,
  mustBeAlive,
  queueRuns,
  runShapes,
  sharedHome,
  startEffectServer,
  startWorker,
  unfinishedCount,
  unverifiedProofs,
  waitFor,
  waitUntilEnded,
  withApplicationName,
  type WorkerProcess,
} from "./support/worker-process.js";

/**
 * One `aos worker` process under database failures: its server restarted, its backends terminated (also in the
 * middle of a transaction), every connection slot its role may use taken until its leases ran out. It must recover
 * by itself and finish every run. The shared server other test files use must never be restarted, so this file
 * starts a PostgreSQL 15 cluster of its own (max_connections 20) and runs on the server backend only.
 */
const runnable = serverBackend() !== undefined && privateClusterAvailable();

const slow = (stepId: string, ms: number) => ({ step_id: stepId, skill: "fail_trigger", params: { fail_times: 0, delay_ms: ms } });
const post = (stepId: string, url: string) => ({ step_id: stepId, skill: "http_call", params: { url, method: "POST", body: { step: stepId } } });

describe.runIf(runnable)("a worker through database failures, on a private PostgreSQL cluster", () => {
  let cluster: PrivateCluster;
  /** The test's own view, as the superuser: its sessions may use the reserved slots the worker's role cannot. */
  let db: Database;
  /** The worker connects as role `aos`, the owner of the database, which is not a superuser. */
  let workerUrl: string;

  beforeAll(async () => {
    cluster = await startPrivateCluster({ maxConnections: 20 });
    workerUrl = await aosDatabaseOn(cluster);
    db = await openServerDatabase(withApplicationName(cluster.url("aos"), "aos-chaos-test"), 2);
  }, 120_000);

  afterAll(async () => {
    await killAllWorkers();
    await db?.close();
    await cluster?.destroy();
  });

  /**
   * One round of taking the worker's connections away: its backends terminated, then every connection slot its role
   * may use taken by the test (`fillers`). True when it has no backend left. Terminated backends free their slots a
   * moment later and the worker reconnects at once, so it takes a few rounds to win.
   */
  async function starveRound(worker: WorkerProcess, fillers: pg.Client[]): Promise<boolean> {
    await db.pool.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [worker.id]);
    fillers.push(...(await fillConnectionSlots(withApplicationName(workerUrl, "aos-chaos-filler"))));
    return (await backendsOf(db, worker.id)) === 0;
  }

  it("finishes every run without being restarted: a server restart, terminated backends, no free connection slot", { timeout: 150_000 }, async () => {
    const LEASE_MS = 2000;
    const env = {
      AOS_LEASE_MS: String(LEASE_MS),
      AOS_WORKER_POLL_MS: "50",
      AOS_RUN_RETRY_BASE_S: "1",
      AOS_RUN_RETRY_MAX_S: "2",
      RUN_MAX_ATTEMPTS: "50",
      AOS_DB_POOL_MAX: "4",
    };
    const effects = await startEffectServer(200);
    const { home, config } = sharedHome();
    try {
      const agent = await createAgent(db, { tenantId: "chaos", name: "chaos", allowedHosts: [effects.host] });
      await db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
      const plan = { steps: [slow("prepare", 300), post("charge", `${effects.url}/charge`), slow("settle", 300)] };
      const runs: Run[] = [];
      const ids = () => runs.map((run) => run.id);
      // Keeps at least eight runs unfinished, so that every fault hits the worker in the middle of its work.
      const topUp = async () => {
        if ((await unfinishedCount(db, ids())) >= 8) return;
        const inputs = Array.from({ length: 8 }, (_, i) => ({ tenantId: "chaos", agentId: agent.id, goal: `chaos ${runs.length + i}`, plan }));
        runs.push(...(await queueRuns(db, config, inputs, 2)));
      };
      const succeeded = async () => {
        const { rows } = await db.pool.query("select count(*)::int as n from runs where id = any($1::text[]) and status = 'succeeded'", [ids()]);
        return rows[0].n as number;
      };
      const worker = startWorker({ id: "aos-chaos-worker", databaseUrl: workerUrl, home, concurrency: 6, env });
      const moreSucceed = async (what: string, count: number) => {
        // Counted inside the probe: right after a restart the test's own first query may fail too.
        let before: number | undefined;
        await waitFor(what, async () => {
          mustBeAlive(worker);
          const now = await succeeded();
          before ??= now;
          return now >= before + count;
        });
      };
      const busy = async () => {
        await topUp();
        await waitFor("the worker holds runs", async () => {
          mustBeAlive(worker);
          const { rows } = await db.pool.query("select 1 from runs where worker_id = $1 and status = 'running'", [worker.id]);
          return rows.length > 0;
        });
      };

      await topUp();
      await moreSucceed("the worker finished its first runs", 3);

      await busy();
      await cluster.restart();
      await moreSucceed("runs succeed again after the server restart", 4);

      for (let round = 0; round < 2; round++) {
        await busy();
        const { rows } = await db.pool.query(
          "select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1",
          [worker.id],
        );
        expect(rows[0].n).toBeGreaterThan(0);
        await moreSucceed("runs succeed again after its backends were terminated", 3);
      }

      // The worst moment for a connection to die: inside a transaction (a run's finalization, a reaper round), on a
      // client the worker checked out of its pool rather than one pool.query holds.
      for (let round = 0; round < 3; round++) {
        await busy();
        await waitFor("a backend of the worker was terminated inside a transaction", async () => {
          mustBeAlive(worker);
          const { rows } = await db.pool.query(
            `select count(*) filter (where pg_terminate_backend(pid))::int as n
from pg_stat_activity
where application_name = $1 and (state like 'idle in transaction%' or (state = 'active' and xact_start < query_start))`,
            [worker.id],
          );
          return rows[0].n > 0;
        }, { intervalMs: 1 });
        await moreSucceed("runs succeed again after a backend died inside a transaction", 3);
      }

      await busy();
      const fillers: pg.Client[] = [];
      try {
        // Kept without a connection until the lease of every run it holds ran out: it could renew none of them.
        await waitFor("the worker's leases ran out while it had no connection", async () => {
          mustBeAlive(worker);
          if (!(await starveRound(worker, fillers))) return false;
          const { rows } = await db.pool.query(
            `select count(*) filter (where lease_expires_at > now())::int as live, count(*)::int as held
from runs where worker_id = $1 and status = 'running'`,
            [worker.id],
          );
          return rows[0].held > 0 && rows[0].live === 0;
        });
      } finally {
        await Promise.all(fillers.map((client) => client.end().catch(() => undefined)));
      }
      await moreSucceed("runs succeed again once connection slots are free", 3);

      await waitUntilEnded(db, ids(), 90_000);
      expect(worker.alive()).toBe(true);
      expect(await worker.stop(), logTails([worker])).toEqual({ code: 0, signal: null });

      const shapes = await runShapes(db, ids());
      expect([...shapes].filter(([, shape]) => shape.status !== "succeeded")).toEqual([]);
      expect(await duplicateOutcomeRows(db, ids())).toBe(0);
      const unsettled = [...shapes].filter(([, shape]) => {
        const settled = shape.rows.filter((row) => row.endsWith(":succeeded")).map((row) => row.split(":")[0]);
        return settled.join(",") !== "0,1,2";
      });
      expect(unsettled).toEqual([]);
      const { rows: interrupted } = await db.pool.query<{ key: string; n: number }>(
        `select substr(trace_id, 7) || ':' || step_index as key, count(*)::int as n
from aos_trace_steps where trace_id = any($1::text[]) and status = 'interrupted' group by 1`,
        [ids().map((id) => `trace_${id}`)],
      );
      const interruptions = new Map(interrupted.map((row) => [row.key, row.n]));
      const miscounted = ids().filter((id) => {
        const key = `${id}:1`;
        return effects.postsWith(key) < 1 || effects.postsWith(key) > 1 + (interruptions.get(key) ?? 0);
      });
      expect(miscounted).toEqual([]);
      expect(await unverifiedProofs(db, config, runs, 2)).toEqual([]);
    } finally {
      await effects.close();
    }
  });
});
