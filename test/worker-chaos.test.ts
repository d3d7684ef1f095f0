import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { type ChaosCluster, notFinalizedOnce, startChaosCluster, starveUntilLeasesExpire } from "./support/chaos-cluster.js";
import { CHAOS_ENV, ChaosLoad } from "./support/chaos-load.js";
import { onPrivateCluster } from "./support/private-cluster.js";
import { pythonUnverified } from "./support/python-verifier.js";
import {
  duplicateOutcomeRows,
  killAllWorkers,
  logTails,
  mustBeAlive,
  settlement,
  sharedHome,
  startEffectServer,
  startWorker,
  unverifiedProofs,
  waitFor,
  waitUntilEnded,
} from "./support/worker-process.js";

/**
 * One `aos worker` process under database failures: its server restarted (cleanly and as a crash), its backends
 * terminated (also in the middle of a transaction), every connection slot its role may use taken until its leases
 * ran out. It must recover by itself and finish every run, each finalized once, with a proof that AOS and the
 * Python verifier call VERIFIED. The shared server other test files use must never be restarted, so this file
 * starts a PostgreSQL cluster of its own (max_connections 20) from the binaries the system's tools point at.
 */

describe("a worker through database failures, on a private PostgreSQL cluster", onPrivateCluster(), () => {
  let chaos: ChaosCluster;
  let db: Database;
  let workerUrl: string;

  beforeAll(async () => {
    chaos = await startChaosCluster(20, "aos-chaos-test");
    ({ db, workerUrl } = chaos);
  }, 120_000);

  afterAll(async () => {
    await killAllWorkers();
    await chaos?.close();
  });

  it("finishes every run without being restarted: server restarts (fast, immediate), terminated backends, no free connection slot", { timeout: 150_000 }, async () => {
    const effects = await startEffectServer(200);
    const { home, config } = sharedHome();
    try {
      const worker = startWorker({ id: "aos-chaos-worker", databaseUrl: workerUrl, home, concurrency: 6, env: CHAOS_ENV });
      const load = await ChaosLoad.start(db, config, effects, "chaos", () => [worker]);

      await load.moreSucceed("the worker finished its first runs", 3);

      await load.busy(worker);
      await chaos.cluster.restart("fast");
      await load.moreSucceed("runs succeed again after the server restart", 4);

      // A crash of the server: no shutdown checkpoint, WAL replayed on the way up.
      await load.busy(worker);
      await chaos.cluster.restart("immediate");
      await load.moreSucceed("runs succeed again after the server crashed and came back", 4);

      for (let round = 0; round < 2; round++) {
        await load.busy(worker);
        const { rows } = await db.pool.query(
          "select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1",
          [worker.id],
        );
        expect(rows[0].n).toBeGreaterThan(0);
        await load.moreSucceed("runs succeed again after its backends were terminated", 3);
      }

      // The worst moment for a connection to die: inside a transaction (a run's finalization, a reaper round), on a
      // client the worker checked out of its pool rather than one pool.query holds.
      for (let round = 0; round < 3; round++) {
        await load.busy(worker);
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
        await load.moreSucceed("runs succeed again after a backend died inside a transaction", 3);
      }

      await load.busy(worker);
      await starveUntilLeasesExpire(chaos, worker);
      await load.moreSucceed("runs succeed again once connection slots are free", 3);

      await waitUntilEnded(db, load.ids(), 90_000);
      expect(worker.alive()).toBe(true);
      expect(await worker.stop(), logTails([worker])).toEqual({ code: 0, signal: null });

      expect((await settlement(db, effects, load.ids(), { steps: 3, posts: [1] })).problems).toEqual([]);
      expect(await duplicateOutcomeRows(db, load.ids())).toBe(0);
      expect(await notFinalizedOnce(db, load.ids())).toEqual([]);
      expect(await unverifiedProofs(db, config, load.runs, 2)).toEqual([]);
      expect(await pythonUnverified(db, config, load.runs)).toEqual([]);
    } finally {
      await effects.close();
    }
  });
});
