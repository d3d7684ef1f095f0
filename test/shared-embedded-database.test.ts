import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedDatabase, openEmbeddedDatabase } from "../src/db/open-database.js";
import { OWNER_FILE_NAME, readOwnerFile } from "../src/db/owner-socket.js";
import { RemoteConnection } from "../src/db/remote-session.js";
import { startDbClient } from "./support/shared-db-processes.js";
import { tempDir } from "./support/temp-dirs.js";

// Real processes on one embedded database: this test process owns PGlite, and each child (built code, dist/)
// reaches it through the owner socket. Run `npm run build` first.

const CLIENTS = 8;
// Each round is 7 statements (2 queries, a 5-statement transaction): 280 results per process to check.
const ROUNDS = 40;

function homePaths(home: string) {
  return { dataDir: join(home, "pgdata"), lockPath: join(home, "aos.lock"), ownerFile: join(home, OWNER_FILE_NAME) };
}

/** A process holding an open transaction (client `holding`), then another that starts 3 rounds behind it. */
async function holderThenOther(home: string, holding: number, behind: number) {
  const holder = startDbClient(home, ["hold", String(holding)]);
  await holder.event("holding");
  const other = startDbClient(home, ["load", String(behind), "3"]);
  await other.event("ready");
  other.send("go");
  return { holder, other };
}

describe("many processes on one embedded database", () => {
  const home = tempDir("aos-shared");
  const paths = homePaths(home);
  let owner: EmbeddedDatabase;

  beforeAll(async () => {
    owner = await openEmbeddedDatabase(paths.dataDir, paths.lockPath);
    await owner.pool.query("create table crossing_probe (client integer not null, round integer not null, tag text not null, primary key (client, round))");
  });

  afterAll(async () => {
    await owner?.close();
  });

  it("publishes an owner file only its user can read, with a socket in a private directory", () => {
    expect(owner.sharing.role).toBe("owner");
    expect(statSync(paths.ownerFile).mode & 0o777).toBe(0o600);
    const published = readOwnerFile(paths.ownerFile);
    expect(published?.pid).toBe(process.pid);
    expect(published?.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(published!.socket, "..")).mode & 0o777).toBe(0o700);
    expect(readFileSync(paths.lockPath, "utf8")).toContain("shares: aos.owner");
  });

  it("refuses a connection that does not present the token", async () => {
    const published = readOwnerFile(paths.ownerFile)!;
    const wrong = { ...published, token: "00".repeat(32) };
    await expect(RemoteConnection.open(wrong)).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    const short = { ...published, token: published.token.slice(0, 10) };
    await expect(RemoteConnection.open(short)).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
  });

  it(`gives every one of ${CLIENTS} processes its own results, ${ROUNDS} rounds each, while the owner queries too`, { timeout: 900_000 }, async () => {
    const clients = Array.from({ length: CLIENTS }, (_, index) => startDbClient(home, ["load", String(index + 1), String(ROUNDS)]));
    const ready = await Promise.all(clients.map((client) => client.event("ready")));
    expect(ready.map((event) => event.role)).toEqual(Array(CLIENTS).fill("remote"));
    for (const client of clients) client.send("go");
    // The owner's own pool is one more caller, interleaving with all of them until they finish.
    let ownerRounds = 0;
    let finished = false;
    const done = Promise.all(clients.map((client) => client.event("done"))).finally(() => (finished = true));
    const ownerMismatches: unknown[] = [];
    while (!finished) {
      const tag = `owner:${ownerRounds}`;
      const { rows } = await owner.pool.query("select $1::text as tag", [tag]);
      if (rows[0]?.tag !== tag) ownerMismatches.push(rows);
      ownerRounds += 1;
    }
    const results = await done;
    expect(results.map((result) => result.mismatches)).toEqual(Array(CLIENTS).fill([]));
    expect(results.map((result) => result.rounds)).toEqual(Array(CLIENTS).fill(ROUNDS));
    expect(ownerMismatches).toEqual([]);
    expect(ownerRounds).toBeGreaterThan(0);
    expect(await Promise.all(clients.map((client) => client.exited))).toEqual(Array(CLIENTS).fill(0));
    const { rows } = await owner.pool.query("select client, count(*)::int as rows from crossing_probe group by client order by client");
    expect(rows).toEqual(Array.from({ length: CLIENTS }, (_, index) => ({ client: index + 1, rows: ROUNDS })));
  });

  it("lets the others go on once a process holding a transaction commits", { timeout: 600_000 }, async () => {
    const { holder, other } = await holderThenOther(home, 101, 102);
    holder.send("commit");
    expect(await holder.event("committed")).toBeDefined();
    expect((await other.event("done")).mismatches).toEqual([]);
    const { rows } = await owner.pool.query("select tag from crossing_probe where client = 101");
    expect(rows).toEqual([{ tag: "held" }]);
  });

  it("rolls back a process killed inside a transaction, and the others go on", { timeout: 600_000 }, async () => {
    const { holder, other } = await holderThenOther(home, 201, 202);
    holder.child.kill("SIGKILL");
    await holder.exited;
    expect((await other.event("done")).mismatches).toEqual([]);
    const { rows } = await owner.pool.query("select client, count(*)::int as rows from crossing_probe where client in (201, 202) group by client");
    expect(rows).toEqual([{ client: 202, rows: 3 }]);
  });
});

describe("a process that holds a transaction too long", () => {
  const home = tempDir("aos-shared-idle");
  const paths = homePaths(home);
  let owner: EmbeddedDatabase;

  beforeAll(async () => {
    // A tiny limit, so the test does not wait 30 s: the rule is the same at any length.
    owner = await openEmbeddedDatabase(paths.dataDir, paths.lockPath, { remoteIdleLimitMs: 100 });
    await owner.pool.query("create table crossing_probe (client integer not null, round integer not null, tag text not null, primary key (client, round))");
  });

  afterAll(async () => {
    await owner?.close();
  });

  it("is disconnected and rolled back; the others go on, and its commit fails as unavailable", { timeout: 600_000 }, async () => {
    const { holder, other } = await holderThenOther(home, 301, 302);
    expect((await other.event("done")).mismatches).toEqual([]);
    holder.send("commit");
    expect(await holder.event("failed")).toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    const { rows } = await owner.pool.query("select client from crossing_probe where client = 301");
    expect(rows).toEqual([]);
  });
});

describe("the owner going away", () => {
  it("closing normally hands the database to the next process, which sees no error; nothing is left behind", { timeout: 600_000 }, async () => {
    const home = tempDir("aos-shared-close");
    const paths = homePaths(home);
    const first = await openEmbeddedDatabase(paths.dataDir, paths.lockPath);
    await first.pool.query("create table crossing_probe (client integer not null, round integer not null, tag text not null, primary key (client, round))");
    const client = startDbClient(home, ["load", "401", String(ROUNDS)]);
    expect((await client.event("ready")).role).toBe("remote");
    client.send("go");
    await first.close();
    const done = await client.event("done");
    expect(done.mismatches).toEqual([]);
    expect(await client.exited).toBe(0);
    expect(existsSync(paths.lockPath)).toBe(false);
    expect(existsSync(paths.ownerFile)).toBe(false);
    const again = await openEmbeddedDatabase(paths.dataDir, paths.lockPath);
    const { rows } = await again.pool.query("select count(*)::int as rows from crossing_probe where client = 401");
    expect(rows).toEqual([{ rows: ROUNDS }]);
    await again.close();
  });
});
