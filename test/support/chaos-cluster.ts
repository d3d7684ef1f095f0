import pg from "pg";
import type { Database } from "../../src/db/database.js";
import { migrate } from "../../src/db/migrate.js";
import { openServerDatabase } from "../../src/db/open-database.js";
import { sqlstateOf } from "../../src/db/sqlstate.js";
import { type PrivateCluster, startPrivateCluster } from "./private-cluster.js";
import { backendsOf, mustBeAlive, waitFor, withApplicationName, type WorkerProcess } from "./worker-process.js";

export interface ChaosCluster {
  cluster: PrivateCluster;
  /** The test's own view, as the superuser: its sessions may use the reserved slots the workers' role cannot. */
  db: Database;
  /** The workers connect as role `aos`, the owner of the database, which is not a superuser. */
  workerUrl: string;
  close(): Promise<void>;
}

/** A private cluster with AOS migrated into database `aos`, owned by a role without superuser rights. */
export async function startChaosCluster(maxConnections: number, testName: string): Promise<ChaosCluster> {
  const cluster = await startPrivateCluster({ maxConnections });
  const admin = new pg.Client({ connectionString: cluster.url("postgres") });
  await admin.connect();
  try {
    await admin.query("create role aos login");
    await admin.query("create database aos owner aos");
    // What docs/tenancy.md asks an administrator to do when AOS's role may not create roles itself.
    await admin.query("create role aos_tenant nologin");
    await admin.query("grant aos_tenant to aos");
  } finally {
    await admin.end();
  }
  const workerUrl = cluster.url("aos", "aos");
  const owner = await openServerDatabase(workerUrl, 1);
  try {
    await migrate(owner);
  } finally {
    await owner.close();
  }
  const db = await openServerDatabase(withApplicationName(cluster.url("aos"), testName), 2);
  return {
    cluster,
    db,
    workerUrl,
    close: async () => {
      await db.close();
      await cluster.destroy();
    },
  };
}

/**
 * The runs that were not finalized exactly once: each finished run has its trace ended with a run-end, one signed
 * checkpoint, one incident, one integrity evidence and one provenance row (the schema's unique keys refuse a
 * second of each, so a second finalization would show as a run that failed or never ended instead).
 */
export async function notFinalizedOnce(db: Database, ids: readonly string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string; counts: string }>(
    `select r.id,
  concat_ws(' ', 'trace_ended=' || (select count(*) from aos_traces t where t.run_id = r.id and t.run_end_jcs is not null and t.status <> 'running'),
    'checkpoints=' || (select count(*) from aos_checkpoints c where c.run_id = r.id),
    'incidents=' || (select count(*) from incidents i where i.source_run_id = r.id),
    'evidence=' || (select count(*) from integrity_evidence e where e.run_id = r.id),
    'provenance=' || (select count(*) from provenance p where p.run_id = r.id)) as counts
from runs r where r.id = any($1::text[])`,
    [ids],
  );
  const once = "trace_ended=1 checkpoints=1 incidents=1 evidence=1 provenance=1";
  return rows.filter((row) => row.counts !== once).map((row) => `${row.id}: ${row.counts}`);
}

/** SQLSTATE too_many_connections: every slot the role may use is taken. */
const TOO_MANY_CONNECTIONS = "53300";

/**
 * Other clients of the workers' role take every connection slot the role may use (all but the superuser's
 * reserved ones): the server refuses the next connection with 53300 until these are ended.
 */
export async function takeFreeSlots(url: string): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  for (;;) {
    const client = new pg.Client({ connectionString: withApplicationName(url, "aos-chaos-filler") });
    client.on("error", () => undefined);
    try {
      await client.connect();
      clients.push(client);
    } catch (error) {
      if (sqlstateOf(error) === TOO_MANY_CONNECTIONS) return clients;
      await Promise.all(clients.map((taken) => taken.end().catch(() => undefined)));
      throw error;
    }
  }
}

/**
 * Keeps `worker` without a connection until the lease of every run it holds ran out (it could renew none of them),
 * then frees the slots. Each round terminates its backends and has other clients take every slot its role may use;
 * terminated backends free their slots a moment later and the worker reconnects at once, so it takes a few rounds.
 */
export async function starveUntilLeasesExpire(chaos: ChaosCluster, worker: WorkerProcess): Promise<void> {
  const { db } = chaos;
  const fillers: pg.Client[] = [];
  // The runs it holds now: each must lose its lease (still `running` with it expired, or already requeued by another
  // worker's reaper, which runs every second) while the worker has no connection to renew it.
  const { rows: held } = await db.pool.query<{ id: string }>("select id from runs where worker_id = $1 and status = 'running'", [worker.id]);
  if (held.length === 0) throw new Error(`${worker.id} holds no run to starve: make it busy first`);
  try {
    await waitFor(`${worker.id}'s leases ran out while it had no connection`, async () => {
      mustBeAlive(worker);
      await db.pool.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [worker.id]);
      fillers.push(...(await takeFreeSlots(chaos.workerUrl)));
      if ((await backendsOf(db, worker.id)) > 0) return false;
      const { rows } = await db.pool.query(
        "select count(*)::int as live from runs where id = any($1::text[]) and worker_id = $2 and status = 'running' and lease_expires_at > now()",
        [held.map((row) => row.id), worker.id],
      );
      return rows[0].live === 0;
    });
  } finally {
    await Promise.all(fillers.map((client) => client.end().catch(() => undefined)));
  }
}
