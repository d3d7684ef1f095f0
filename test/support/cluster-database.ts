import pg from "pg";
import { migrate } from "../../src/db/migrate.js";
import { openServerDatabase } from "../../src/db/open-database.js";
import { sqlstateOf } from "../../src/db/sqlstate.js";
import type { PrivateCluster } from "./private-cluster.js";

/**
 * Sets a private cluster up as an operator would for AOS: a login role `aos` that is not a superuser, owning
 * database `aos`, migrated, and the tenant role granted to it (docs/tenancy.md). Returns the URL AOS connects with.
 */
export async function aosDatabaseOn(cluster: PrivateCluster): Promise<string> {
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
  const url = cluster.url("aos", "aos");
  const owner = await openServerDatabase(url, 1);
  try {
    await migrate(owner);
  } finally {
    await owner.close();
  }
  return url;
}

/** SQLSTATE too_many_connections: every slot the role may use is taken. */
export const TOO_MANY_CONNECTIONS = "53300";

/** Takes every connection slot the URL's role may use (a superuser's reserved ones stay free); the clients hold them. */
export async function fillConnectionSlots(url: string): Promise<pg.Client[]> {
  const fillers: pg.Client[] = [];
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => undefined);
    try {
      await client.connect();
      fillers.push(client);
    } catch (error) {
      if (sqlstateOf(error) === TOO_MANY_CONNECTIONS) return fillers;
      await Promise.all(fillers.map((filler) => filler.end().catch(() => undefined)));
      throw error;
    }
  }
}
