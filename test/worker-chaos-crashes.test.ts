import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { type ChaosCluster, notFinalizedOnce, startChaosCluster, starveUntilLeasesExpire } from "./support/chaos-cluster.js";
import { CHAOS_ENV, ChaosLoad } from "./support/chaos-load.js";
import { onPrivateCluster } from "./support/private-cluster.js";
import { pythonUnverified } from "./support/python-verifier.js";
import {
  duplicateOutcomeRows,
  type EffectServer,
  killAllWorkers,
  logTails,
  settlement,
  sharedHome,
  startEffectServer,
  startWorker,
  unverifiedProofs,
  waitFor,
  waitUntilEnded,
  type WorkerProcess,
} from "./support/worker-process.js";

/**
 * Two `aos worker` processes on a private PostgreSQL cluster through crashes of the server and of a worker, mixed:
 * the server crashing (`pg_ctl restart -m immediate`) while both work, every backend of both terminated at once,
 * the connection slots filled by other clients until one worker's leases ran out, a worker SIGKILLed in the middle of a POST, and the
 * server crashing again while the killed worker's runs still wait for their lease to run out. The worker that is
 * never killed is never restarted either: runs must keep finishing after every fault. At the end: no run lost,
 * none finalized twice, every step settled once, every re-sent POST accounted for by an interrupted attempt, and
 * every proof VERIFIED by AOS and by the Python verifier. Nothing here is timed: each wait is for an event in the
 * database, with a deadline that only guards against a hang (the fault-recovery benchmark measures the time).
 */
describe("two workers through server and worker crashes, on a private PostgreSQL cluster", onPrivateCluster(), () => {
  let chaos: ChaosCluster;
  let db: Database;

  beforeAll(async () => {
    chaos = await startChaosCluster(30, "aos-chaos-crash-test");
    db = chaos.db;
  }, 120_000);

  afterAll(async () => {
    await killAllWorkers();
    await chaos?.close();
  });

  /** True when a run the worker holds has its POST in flight: its intent recorded, its outcome not. */
  async function postInFlight(worker: WorkerProcess, effects: EffectServer): Promise<boolean> {
    const { rows } = await db.pool.query<{ id: string }>("select id from runs where worker_id = $1 and status = 'running'", [worker.id]);
    const inFlight = [...effects.inFlight()];
    return rows.some((row) => inFlight.some((key) => key.startsWith(`${row.id}:`)));
  }

  it("keeps finishing runs after each crash, loses none, finalizes each once, every proof verified", { timeout: 240_000 }, async () => {
    const effects = await startEffectServer(300);
    const { home, config } = sharedHome();
    let generation = 0;
    const start = () => startWorker({ id: `aos-chaos-crash-${++generation}`, databaseUrl: chaos.workerUrl, home, concurrency: 4, env: CHAOS_ENV });
    const steady = start();
    let other = start();
    try {
      const load = await ChaosLoad.start(db, config, effects, "chaos-crash", () => [steady, other], 10);
      await load.moreSucceed("both workers finished their first runs", 4);

      await Promise.all([load.busy(steady), load.busy(other)]);
      await chaos.cluster.restart("immediate");
      await load.moreSucceed("runs succeed again after the server crashed", 4);

      await Promise.all([load.busy(steady), load.busy(other)]);
      const { rows } = await db.pool.query(
        "select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = any($1::text[])",
        [[steady.id, other.id]],
      );
      expect(rows[0].n).toBeGreaterThanOrEqual(2);
      await load.moreSucceed("runs succeed again after every backend of both workers was terminated", 4);

      // Other clients take the slots the other worker's connections had, until its leases ran out; the steady
      // worker keeps the connections it has.
      await Promise.all([load.busy(steady), load.busy(other)]);
      await starveUntilLeasesExpire(chaos, other);
      await load.moreSucceed("runs succeed again once the connection slots are free", 4);

      // SIGKILL in the middle of a POST when possible (any held run otherwise), then the server crashes while the
      // killed worker's runs still wait for their lease to run out.
      await load.busy(other);
      await waitFor(`${other.id} is inside a POST`, () => postInFlight(other, effects), { deadlineMs: 5000 }).catch(() => undefined);
      expect((await other.kill()).signal).toBe("SIGKILL");
      await chaos.cluster.restart("immediate");
      other = start();
      await load.moreSucceed("runs succeed again after a worker was killed and the server crashed", 6);

      await waitUntilEnded(db, load.ids(), 120_000);
      expect([steady.alive(), other.alive()]).toEqual([true, true]);
      expect(await Promise.all([steady.stop(), other.stop()]), logTails([steady, other])).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);

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
