import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProcessSession } from "./embedded-session.js";
import { requestIssue } from "./protocol-position.js";
import { SessionArbiter } from "./session-arbiter.js";

// What one caller of the shared embedded session may leave behind for the next, and what it may not send at all
// (found by an attacker with the owner's token: one malformed request wedged every process; SQL-level session
// state crossed callers).

function message(type: string, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + body.length);
  bytes[0] = type.charCodeAt(0);
  new DataView(bytes.buffer).setInt32(1, 4 + body.length);
  bytes.set(body, 5);
  return bytes;
}
const query = (sql: string) => message("Q", new TextEncoder().encode(`${sql}\0`));
/** The data rows' text of a reply, joined; an error's message after "E:". */
function textOf(reply: Uint8Array): string {
  return new TextDecoder().decode(reply).replace(/[^\x20-\x7e]+/g, " ");
}

describe("requestIssue", () => {
  it("passes what pg sends and refuses what would hold or share the session", () => {
    expect(requestIssue(query("select 1"))).toBeUndefined();
    const negative = query("select 1");
    new DataView(negative.buffer).setInt32(1, -1);
    expect(requestIssue(negative)).toMatch(/length/);
    expect(requestIssue(query("select 1").subarray(0, 8))).toMatch(/length|cut short/);
    expect(requestIssue(message("?", new Uint8Array()))).toMatch(/not one AOS sends/);
    expect(requestIssue(message("d", new Uint8Array([1, 2])))).toMatch(/not one AOS sends/);
    expect(requestIssue(message("P", new TextEncoder().encode("named\0select 1\0\0\0")))).toMatch(/named prepared statement/);
    expect(requestIssue(new Uint8Array())).toMatch(/empty/);
  });
});

describe("a session handed to another caller", () => {
  let pglite: PGlite;
  beforeAll(async () => {
    pglite = await PGlite.create();
  });
  afterAll(async () => {
    await pglite.close();
  });

  it("starts clean: no setting, temporary table, prepared statement or session lock of the last caller", async () => {
    const arbiter = new SessionArbiter(inProcessSession(pglite));
    const a = arbiter.caller();
    const b = arbiter.caller();
    await a.exec(query("set search_path = pg_temp, public; create temp table leak(x text); insert into leak values ('secret-of-a')"));
    await a.exec(query("select pg_advisory_lock(4242); prepare sneaky as select 'prepared-by-a'; set default_transaction_read_only = on"));
    expect(textOf(await b.exec(query("show search_path")))).not.toContain("pg_temp");
    expect(textOf(await b.exec(query("select x from leak")))).toContain('relation "leak" does not exist');
    expect(textOf(await b.exec(query("execute sneaky")))).toContain('prepared statement "sneaky" does not exist');
    expect(textOf(await b.exec(query("select count(*) from pg_locks where locktype = 'advisory'")))).toMatch(/ 0C SELECT 1/);
    expect(textOf(await b.exec(query("create table written(x int)")))).not.toContain("read-only");
    // The same caller keeps its own state between its requests: nothing is discarded while no one else came.
    await b.exec(query("set application_name = 'b'"));
    expect(textOf(await b.exec(query("show application_name")))).toContain("b");
  });

  it("refuses a malformed request without taking the session, so others go on", async () => {
    const arbiter = new SessionArbiter(inProcessSession(pglite));
    const bad = query("select 1");
    new DataView(bad.buffer).setInt32(1, -1);
    await expect(arbiter.caller().exec(bad)).rejects.toThrow(/refused on the shared embedded database/);
    expect(textOf(await arbiter.caller().exec(query("select 'still here'")))).toContain("still here");
  });
});
