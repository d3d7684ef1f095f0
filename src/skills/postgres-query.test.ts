import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { onServer } from "../../test/support/databases.js";
import { serverUrlFor } from "../../test/support/server-url.js";
import { skillContext } from "../../test/support/skill-context.js";
import type { SkillContext, SkillOutcome, SkillSettings } from "./contract.js";
import { postgresQuerySkill } from "./postgres-query.js";
import { screenQuery } from "./postgres-query-screen.js";

const base = skillContext();

function context(settings: Partial<SkillSettings>, overrides: Partial<SkillContext> = {}): SkillContext {
  return skillContext({ settings: { ...base.settings, ...settings }, ...overrides });
}

function query(raw: Record<string, unknown>, ctx: SkillContext): Promise<SkillOutcome> {
  return postgresQuerySkill.execute(postgresQuerySkill.input.parse(raw), ctx);
}

// The screen is the first wall only; a test below switches it off to show the database's walls alone.
vi.mock("./postgres-query-screen.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./postgres-query-screen.js")>();
  return { ...actual, screenQuery: vi.fn(actual.screenQuery) };
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("postgres_query's screen", () => {
  it("passes one read, with a trailing semicolon taken off, and ignores ; and keywords inside literals and comments", () => {
    expect(screenQuery("select 1;")).toEqual({ ok: true, text: "select 1" });
    expect(screenQuery("select 1; -- done\n")).toEqual({ ok: true, text: "select 1" });
    for (const sql of [
      "select ';delete' as a, \"drop;\" from t -- ; insert\n",
      "/* outer /* nested ; */ still ; update */ select 1",
      "select $$ ; delete $$, $tag$ ; $$ ; $tag$ where a = $1",
      "select E'it\\'s; delete' as x",
      "select 'it''s; delete'",
      "with recent as (select * from runs) select * from recent",
      "(select 1) union (select 2)",
      "values (1), (2)",
      "table runs",
      "select updated_at, last_update from t",
    ]) {
      expect(screenQuery(sql), sql).toMatchObject({ ok: true, text: sql });
    }
  });

  it("refuses more than one statement, DDL, DCL, session commands and writes, naming why", () => {
    const refusals: [string, RegExp][] = [
      ["select 1; select 2", /more than one statement/],
      ["select 1;;", /more than one statement/],
      ["select 1; commit; delete from t", /more than one statement/],
      ["drop table t", /"drop" changes the database/],
      ["CREATE TABLE t (a int)", /"create" changes the database/],
      ["grant select on t to public", /"grant"/],
      ["set role admin", /"set"/],
      ["begin", /"begin"/],
      ["explain select 1", /"explain" is not a read/],
      ["insert into t values (1)", /"insert"/],
      ["with gone as (delete from t returning *) select * from gone", /"delete" writes data/],
      ["with x as (select 1) update t set a = 1", /"update"/],
      ["select * into copy_of_t from t", /"into"/],
      ["select * from t for update", /"update"/],
      ["-- only a comment", /empty/],
    ];
    for (const [sql, reason] of refusals) {
      const screened = screenQuery(sql);
      expect(screened.ok, sql).toBe(false);
      if (!screened.ok) expect(screened.reason, sql).toMatch(reason);
    }
  });
});

describe("postgres_query without a server", () => {
  it("has a strict input: bound params, a positive max_rows, no unknown keys", () => {
    const parse = (raw: unknown) => postgresQuerySkill.input.safeParse(raw).success;
    expect(postgresQuerySkill.input.parse({ query: "select 1" })).toEqual({ query: "select 1", params: [] });
    expect(parse({ query: "select $1", params: [1, "a", null, true, [1, 2], { a: 1 }] })).toBe(true);
    expect(parse({ query: "" })).toBe(false);
    expect(parse({ query: "x".repeat(10_001) })).toBe(false);
    expect(parse({ query: "select 1", max_rows: 0 })).toBe(false);
    expect(parse({ query: "select %(name)s", params: { name: 1 } })).toBe(false);
    expect(parse({ query: "select 1", database_url: "postgres://elsewhere/db" })).toBe(false);
  });

  it("fails with CREDENTIALS_MISSING naming POSTGRES_QUERY_URL, without connecting", async () => {
    const connect = vi.spyOn(pg.Client.prototype, "connect");
    const outcome = await query({ query: "select 1" }, context({ postgresQueryUrl: undefined }));
    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect(outcome.status === "error" && outcome.error.message).toMatch(/POSTGRES_QUERY_URL/);
    expect(connect).not.toHaveBeenCalled();
  });

  it("fails with CREDENTIALS_MISSING on a URL it cannot parse, without quoting it", async () => {
    for (const postgresQueryUrl of ["postgres://reader:s3cret-pw@[::1", "not a url"]) {
      const outcome = await query({ query: "select 1" }, context({ postgresQueryUrl }));
      expect(outcome, postgresQueryUrl).toMatchObject({ error: { code: "CREDENTIALS_MISSING", retryable: false } });
      expect(JSON.stringify(outcome)).not.toContain("s3cret-pw");
    }
  });

  it("refuses, without connecting, a refused query, max_rows above the cap, and an already aborted step", async () => {
    const connect = vi.spyOn(pg.Client.prototype, "connect");
    const ctx = context({ postgresQueryUrl: "postgres://u:pw@127.0.0.1:1/db", postgresQueryMaxRows: 10 });
    expect(await query({ query: "drop table t" }, ctx)).toMatchObject({ error: { code: "QUERY_REFUSED", retryable: false } });
    expect(await query({ query: "select 1", max_rows: 11 }, ctx)).toMatchObject({ error: { code: "VALIDATION_ERROR" } });
    const aborted = context(ctx.settings, { signal: AbortSignal.abort() });
    expect(await query({ query: "select 1" }, aborted)).toMatchObject({ error: { code: "CANCELLED" } });
    expect(connect).not.toHaveBeenCalled();
  });

  it("reports an unreachable server as a retryable failure whose message has no password", async () => {
    const ctx = context({ postgresQueryUrl: "postgres://reader:s3cret-pw@127.0.0.1:1/warehouse" });
    const outcome = await query({ query: "select 1" }, ctx);
    expect(outcome).toMatchObject({ status: "error", error: { code: "NETWORK_ERROR", retryable: true } });
    expect(JSON.stringify(outcome)).not.toContain("s3cret-pw");
    expect(outcome.status === "error" && outcome.error.message).toContain("127.0.0.1:1/warehouse");
  });

  it("reports a host that cannot resolve as HOST_NOT_FOUND (final) or, with no resolver answering, DNS_ERROR (retried): as the catalog lists each", async () => {
    // .invalid never resolves (RFC 6761 §6.4); which of the two a machine gets depends on its resolver, not the internet.
    const outcome = await query({ query: "select 1" }, context({ postgresQueryUrl: "postgres://reader@nonexistent.invalid/warehouse" }));
    expect(outcome.status).toBe("error");
    const error = outcome.status === "error" ? outcome.error : undefined;
    expect(["HOST_NOT_FOUND", "DNS_ERROR"]).toContain(error?.code);
    expect(error?.retryable).toBe(error?.code === "DNS_ERROR");
  });
});

const serverUrl = process.env.AOS_TEST_DATABASE_URL;

describe("postgres_query on the server", onServer(), () => {
  const database = `aos_test_pgq_${randomBytes(4).toString("hex")}`;
  // The describe body runs even when skipped, so no URL parsing without a server.
  const url = serverUrl === undefined ? "" : serverUrlFor(serverUrl, database);
  const ctx = context({ postgresQueryUrl: url, postgresQueryMaxRows: 100, postgresQueryTimeoutMs: 5000 });

  async function onServer<T extends pg.QueryResultRow>(target: string, sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  const items = () => onServer<{ id: number; name: string }>(url, "select id, name from items order by id");

  beforeAll(async () => {
    await onServer(serverUrl ?? "", `create database ${database}`);
    await onServer(url, `
      create table items (id int primary key, name text not null, price numeric(10, 2), big int8,
                          created_at timestamptz, tags text[], data jsonb, blob bytea);
      insert into items
      select n, 'item ' || n, n * 1.25, 9007199254740993 + n, '2024-01-02 03:04:05.123456+00'::timestamptz + n * interval '1 day',
             array['t' || n, null], jsonb_build_object('n', n), decode('00ff' || lpad(n::text, 2, '0'), 'hex')
        from generate_series(1, 5) as n;
      create sequence item_ids;
      create function add_item() returns int language sql as 'insert into items values (99, ''sneaky'') returning id';
    `);
  });

  afterAll(async () => {
    await onServer(serverUrl ?? "", `drop database if exists ${database} with (force)`);
  });

  it("runs a parameterised select and returns rows, their count and the fields", async () => {
    const outcome = await query({ query: "select id, name from items where price > $1 and name <> $2 order by id", params: [2, "item 4"] }, ctx);
    expect(outcome).toEqual({
      status: "ok",
      result: {
        rows: [{ id: 2, name: "item 2" }, { id: 3, name: "item 3" }, { id: 5, name: "item 5" }],
        row_count: 3,
        truncated: false,
        fields: [{ name: "id", type_oid: 23 }, { name: "name", type_oid: 25 }],
      },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    const arrays = await query({ query: "select id from items where id = any($1::int[]) and data @> $2::jsonb", params: [[1, 2, 3], { n: 2 }] }, ctx);
    expect(arrays.result).toMatchObject({ rows: [{ id: 2 }] });
    const commented = await query({ query: "select count(*)::int as n from items; -- all of them" }, ctx);
    expect(commented.result).toMatchObject({ rows: [{ n: 5 }] });
  });

  it("returns JSON-safe values: int8 and numeric as strings, ISO timestamps, bytea as base64", async () => {
    const outcome = await query({
      query: `select big, price, created_at, created_at::timestamp as local, created_at::date as day, tags, data, blob,
                     array[created_at] as stamps, interval '1 day 2 hours' as span, 'NaN'::float8 as nan, 1.5::float8 as f
                from items where id = 1`,
    }, ctx);
    expect(outcome.status).toBe("ok");
    const { rows } = outcome.result as { rows: Record<string, unknown>[] };
    expect(rows[0]).toEqual({
      big: "9007199254740994",
      price: "1.25",
      created_at: "2024-01-03T03:04:05.123456Z",
      local: "2024-01-03T03:04:05.123456",
      day: "2024-01-03",
      tags: ["t1", null],
      data: { n: 1 },
      blob: Buffer.from([0x00, 0xff, 0x01]).toString("base64"),
      stamps: ["2024-01-03T03:04:05.123456Z"],
      span: "P1DT2H",
      nan: "NaN",
      f: 1.5,
    });
    expect(JSON.parse(JSON.stringify(outcome.result))).toEqual(outcome.result);
  });

  it("keeps SQL-looking params as data", async () => {
    const outcome = await query({ query: "select id from items where name = $1", params: ["'; drop table items; --"] }, ctx);
    expect(outcome.result).toMatchObject({ rows: [], row_count: 0 });
    expect(await items()).toHaveLength(5);
  });

  it("refuses writes before sending them, and the database refuses the writes it cannot see", async () => {
    const before = await items();
    for (const sql of [
      "insert into items values (7, 'new')",
      "update items set name = 'changed'",
      "delete from items",
      "with gone as (delete from items returning *) select * from gone",
      "select * into items_copy from items",
    ]) {
      expect(await query({ query: sql }, ctx), sql).toMatchObject({ error: { code: "QUERY_REFUSED", retryable: false } });
    }
    for (const sql of ["select add_item()", "select nextval('item_ids')"]) {
      expect(await query({ query: sql }, ctx), sql).toMatchObject({
        error: { code: "QUERY_REFUSED", retryable: false, details: { sqlstate: "25006" } },
      });
    }
    expect(await items()).toEqual(before);
  });

  it("relies on the database, not the screen: with the screen passing everything, no write or second statement runs", async () => {
    const before = await items();
    vi.mocked(screenQuery).mockImplementation((sql) => ({ ok: true, text: sql }));
    try {
      const refusals: [string, string][] = [
        ["with gone as (delete from items returning *) select * from gone", "0A000"],
        ["delete from items", "42601"],
        ["select 1; delete from items", "42601"],
        ["select 1; commit; drop table items", "42601"],
        ["select * into items_copy from items", "42601"],
      ];
      for (const [sql, sqlstate] of refusals) {
        expect(await query({ query: sql }, ctx), sql).toMatchObject({ status: "error", error: { details: { sqlstate } } });
      }
    } finally {
      vi.mocked(screenQuery).mockReset();
    }
    expect(await items()).toEqual(before);
  });

  it("refuses DDL and two statements, and the table is still there", async () => {
    for (const sql of ["drop table items", "truncate items", "alter table items add column x int", "select 1; drop table items"]) {
      expect(await query({ query: sql }, ctx), sql).toMatchObject({ error: { code: "QUERY_REFUSED" } });
    }
    expect(await items()).toHaveLength(5);
  });

  it("reports SQL errors as QUERY_ERROR with the SQLSTATE and the position in the query", async () => {
    const outcome = await query({ query: "select * from missing_table" }, ctx);
    expect(outcome).toMatchObject({ error: { code: "QUERY_ERROR", retryable: false, details: { sqlstate: "42P01", position: 15 } } });
    const division = await query({ query: "select 1 / (id - 1) from items" }, ctx);
    expect(division).toMatchObject({ error: { code: "QUERY_ERROR", details: { sqlstate: "22012" } } });
  });

  it("stops a query at the statement timeout with a retryable TIMEOUT", async () => {
    const started = Date.now();
    const outcome = await query({ query: "select pg_sleep(10)" }, context({ ...ctx.settings, postgresQueryTimeoutMs: 300 }));
    expect(outcome).toMatchObject({ error: { code: "TIMEOUT", retryable: true, details: { timeout_ms: 300 } } });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("returns at most max_rows rows and says when there were more; max_rows defaults to the cap", async () => {
    const sql = "select id from items order by id";
    expect((await query({ query: sql, max_rows: 2 }, ctx)).result).toMatchObject({ rows: [{ id: 1 }, { id: 2 }], row_count: 2, truncated: true });
    expect((await query({ query: sql, max_rows: 5 }, ctx)).result).toMatchObject({ row_count: 5, truncated: false });
    const capped = context({ ...ctx.settings, postgresQueryMaxRows: 3 });
    expect((await query({ query: sql }, capped)).result).toMatchObject({ row_count: 3, truncated: true });
  });

  it("stops a running query when the step is cancelled, and the server ends it too", async () => {
    const controller = new AbortController();
    const running = query({ query: "select pg_sleep(30)" }, context(ctx.settings, { signal: controller.signal }));
    await vi.waitUntil(async () => (await sleepers()).length > 0, { timeout: 5000, interval: 50 });
    const started = Date.now();
    controller.abort();
    expect(await running).toMatchObject({ error: { code: "CANCELLED" } });
    expect(Date.now() - started).toBeLessThan(1000);
    await vi.waitUntil(async () => (await sleepers()).length === 0, { timeout: 5000, interval: 100 });
  });

  function sleepers(): Promise<unknown[]> {
    return onServer(url, `select pid from pg_stat_activity where application_name = 'aos postgres_query' and datname = current_database() and state = 'active'`);
  }
});
