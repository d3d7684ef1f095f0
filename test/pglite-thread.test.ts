import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, withTransaction } from "../src/db/database.js";
import { loadMigrations, migrate } from "../src/db/migrate.js";
import { type EmbeddedDatabase, openEmbeddedDatabase } from "../src/db/open-database.js";
import { SQLSTATE } from "../src/db/sqlstate.js";
import { testBackends, type TestDatabase } from "./support/databases.js";
import { tempDir } from "./support/temp-dirs.js";

// About 1 s on PGlite here: far longer than the 10 ms timer the event-loop checks race against it.
const SLOW_QUERY = "select count(*)::int as n from generate_series(1, 5000000)";
const IN_FAILED_SQL_TRANSACTION = "25P02";

/** Each holds a 40 MB data directory, removed after the file's tests. */
function embeddedHome(): { dataDir: string; lockPath: string } {
  const home = tempDir("aos-thread");
  return { dataDir: join(home, "pgdata"), lockPath: join(home, "aos.lock") };
}

/** Starts the slow query, lets a 10 ms timer run, and says whether the query was still pending when it fired. */
async function queryPendingWhenTimerFired(db: Database): Promise<boolean> {
  let settled = false;
  const query = db.pool.query(SLOW_QUERY).finally(() => {
    settled = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  const pending = !settled;
  expect((await query).rows).toEqual([{ n: 5_000_000 }]);
  return pending;
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error("expected a rejection"),
    (error: unknown) => error,
  );
}

/** The same LISTEN/NOTIFY steps on one pool client, recording notifications and finished statements in order. */
async function notificationLog(db: Database): Promise<string[]> {
  const log: string[] = [];
  const onNotification = (message: pg.Notification) => log.push(`notified ${message.payload}`);
  const client = await db.pool.connect();
  client.on("notification", onNotification);
  const run = async (queryable: pg.PoolClient | pg.Pool, sql: string) => {
    await queryable.query(sql);
    log.push(`done ${sql}`);
  };
  try {
    await run(client, "listen aos_probe");
    await run(client, "notify aos_probe, 'one'");
    await run(client, "select pg_notify('aos_probe', 'two')");
    await run(client, "begin");
    await run(client, "notify aos_probe, 'three'");
    await run(client, "commit");
    client.release();
    // The pool's one client is the listening one, so a notification sent through the pool reaches it too.
    await run(db.pool, "notify aos_probe, 'four'");
    await run(db.pool, "unlisten aos_probe");
    await run(db.pool, "notify aos_probe, 'five'");
  } finally {
    client.off("notification", onNotification);
  }
  return log;
}

describe("the embedded database on a worker thread", () => {
  const home = embeddedHome();
  let threaded: EmbeddedDatabase;
  let inProcess: TestDatabase;
  let applied: number[];

  beforeAll(async () => {
    const pglite = testBackends().find((backend) => backend.name === "pglite");
    if (pglite === undefined) throw new Error("the PGlite test backend is always there");
    inProcess = await pglite.open();
    threaded = await openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true });
    applied = await migrate(threaded);
    await threaded.pool.query("create table thread_probe (id integer primary key, note text not null)");
  });

  afterAll(async () => {
    await threaded?.close();
    await inProcess?.close();
  });

  it("runs the migrations through it", async () => {
    expect(applied).toEqual(loadMigrations().map((migration) => migration.id));
    expect(await migrate(threaded)).toEqual([]);
  });

  it("returns values typed as the in-process adapter returns them", async () => {
    const sql = `select '2026-01-02T03:04:05.678Z'::timestamptz as at, 9007199254740993::bigint as big,
      '{"a": [1, "x"], "b": null}'::jsonb as doc, null::text as nothing, '\\x00ff'::bytea as raw,
      1.50::numeric as amount, 42::integer as small, true as flag, array['a', 'b']::text[] as tags,
      'c0ffee00-0000-4000-8000-000000000000'::uuid as id, $1::text as param, $2::jsonb as echoed`;
    const params = ["ünïcode ✓", JSON.stringify({ nested: { list: [1, 2] } })];
    const { rows } = await threaded.pool.query(sql, params);
    expect(rows).toEqual((await inProcess.pool.query(sql, params)).rows);
    expect(rows[0]).toEqual({
      at: new Date("2026-01-02T03:04:05.678Z"),
      big: "9007199254740993",
      doc: { a: [1, "x"], b: null },
      nothing: null,
      raw: Buffer.from([0x00, 0xff]),
      amount: "1.50",
      small: 42,
      flag: true,
      tags: ["a", "b"],
      id: "c0ffee00-0000-4000-8000-000000000000",
      param: "ünïcode ✓",
      echoed: { nested: { list: [1, 2] } },
    });
    expect(rows[0].at).toBeInstanceOf(Date);
  });

  it("fails a query with the same database error as in-process, and serves the next one", async () => {
    const fields = (error: unknown) => {
      const { code, severity, message, position } = error as Record<string, unknown>;
      return { code, severity, message, position, isError: error instanceof Error };
    };
    const sql = "select * from no_such_table";
    const failure = fields(await rejection(threaded.pool.query(sql)));
    expect(failure).toEqual(fields(await rejection(inProcess.pool.query(sql))));
    expect(failure).toMatchObject({ code: SQLSTATE.UNDEFINED_TABLE, severity: "ERROR", isError: true });
    expect((await threaded.pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
  });

  it("recovers from an error inside a transaction after rollback", async () => {
    await threaded.pool.query("insert into thread_probe (id, note) values (1, 'before')");
    const client = await threaded.pool.connect();
    try {
      await client.query("begin");
      await client.query("update thread_probe set note = 'changed' where id = 1");
      await expect(client.query("insert into thread_probe (id, note) values (1, 'again')")).rejects.toMatchObject({
        code: SQLSTATE.UNIQUE_VIOLATION,
        constraint: "thread_probe_pkey",
      });
      await expect(client.query("select 1")).rejects.toMatchObject({ code: IN_FAILED_SQL_TRANSACTION });
      await client.query("rollback");
    } finally {
      client.release();
    }
    const { rows } = await threaded.pool.query("select note from thread_probe where id = 1");
    expect(rows).toEqual([{ note: "before" }]);
  });

  it("commits and rolls back withTransaction", async () => {
    const committed = await withTransaction(threaded, async (client) => {
      await client.query("insert into thread_probe (id, note) values (2, 'committed')");
      return "done";
    });
    expect(committed).toBe("done");
    const failed = withTransaction(threaded, async (client) => {
      await client.query("insert into thread_probe (id, note) values (3, 'rolled back')");
      throw new Error("changed my mind");
    });
    await expect(failed).rejects.toThrow("changed my mind");
    const { rows } = await threaded.pool.query("select id from thread_probe where id in (2, 3) order by id");
    expect(rows).toEqual([{ id: 2 }]);
  });

  it("delivers LISTEN/NOTIFY notifications as the in-process adapter does", async () => {
    const log = await notificationLog(threaded);
    expect(log).toEqual(await notificationLog(inProcess));
    expect(log).toEqual([
      "done listen aos_probe",
      "notified one",
      "done notify aos_probe, 'one'",
      "notified two",
      "done select pg_notify('aos_probe', 'two')",
      "done begin",
      "done notify aos_probe, 'three'",
      "notified three",
      "done commit",
      "notified four",
      "done notify aos_probe, 'four'",
      "done unlisten aos_probe",
      "done notify aos_probe, 'five'",
    ]);
  });

  it("keeps this thread's event loop free during a long query, where in-process PGlite blocks it", async () => {
    expect(await queryPendingWhenTimerFired(threaded)).toBe(true);
    expect(await queryPendingWhenTimerFired(inProcess)).toBe(false);
  });

  it("holds the lock while open, and after close the directory opens again with its data", async () => {
    await expect(openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true })).rejects.toMatchObject({
      code: "DATABASE_LOCKED",
    });
    await expect(openEmbeddedDatabase(home.dataDir, home.lockPath)).rejects.toMatchObject({
      code: "DATABASE_LOCKED",
    });
    await threaded.close();
    expect(existsSync(home.lockPath)).toBe(false);
    threaded = await openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true });
    expect(await migrate(threaded)).toEqual([]);
    const { rows } = await threaded.pool.query("select id, note from thread_probe order by id");
    expect(rows).toEqual([
      { id: 1, note: "before" },
      { id: 2, note: "committed" },
    ]);
  });
});

describe("the embedded database's thread failing", () => {
  // Two opens of a fresh data directory (initdb) in one test: minutes on a loaded 2-core machine.
  it("fails the pending and every later query with DATABASE_UNAVAILABLE when the thread dies", { timeout: 300_000 }, async () => {
    const home = embeddedHome();
    const db = await openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true });
    const pending = rejection(db.pool.query(SLOW_QUERY));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await db.sharing.thread?.terminate();

    const unavailable = { code: "DATABASE_UNAVAILABLE", message: expect.stringContaining("thread stopped") };
    expect(await pending).toMatchObject(unavailable);
    expect(await rejection(db.pool.query("select 1"))).toMatchObject(unavailable);
    expect(await rejection(withTransaction(db, (client) => client.query("select 1")))).toMatchObject(unavailable);

    await db.close();
    expect(existsSync(home.lockPath)).toBe(false);
    const reopened = await openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true });
    expect((await reopened.pool.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    await reopened.close();
  });

  it("says why it could not open, and leaves no lock behind", async () => {
    const home = embeddedHome();
    writeFileSync(home.dataDir, "a file where the data directory should be\n");
    const failure = await rejection(openEmbeddedDatabase(home.dataDir, home.lockPath, { thread: true }));
    expect(failure).toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      message: expect.stringContaining(`cannot open the embedded database at ${home.dataDir}: `),
    });
    expect(existsSync(home.lockPath)).toBe(false);
  });
});
