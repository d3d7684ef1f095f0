import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeOnBackends, type TestDatabase } from "../../test/support/databases.js";
import { chainProblems, runToEnd, testConfig } from "../../test/support/harness.js";
import { skillContext } from "../../test/support/skill-context.js";
import { ensureTenant } from "../db/queries/tenants.js";
import type { CalendarStore } from "./calendar/calendar-store.js";
import { PostgresCalendar } from "./calendar/postgres-calendar.js";
import { calendarWriteSkill, eventUid } from "./calendar-write.js";
import type { SkillContext, SkillOutcome } from "./contract.js";
import { unfold } from "./ics.js";

interface Call {
  tenantId?: string;
  /** The step's idempotency key; a fresh one per call unless a test repeats a step. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

function caller(store: () => CalendarStore | undefined) {
  return (raw: Record<string, unknown>, call: Call = {}): Promise<SkillOutcome> => {
    const overrides: Partial<SkillContext> = {
      tenantId: call.tenantId ?? "tenant-a",
      idempotencyKey: call.idempotencyKey ?? `${randomUUID()}:0`,
    };
    const calendar = store();
    if (calendar !== undefined) Object.assign(overrides, { calendar });
    if (call.signal !== undefined) Object.assign(overrides, { signal: call.signal });
    return calendarWriteSkill.execute(calendarWriteSkill.input.parse(raw), skillContext(overrides));
  };
}

function resultOf(outcome: SkillOutcome): Record<string, unknown> {
  if (outcome.status !== "ok") throw new Error(`expected ok, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.result as Record<string, unknown>;
}

/** The messages the input schema gives, as "path: message". */
function problems(raw: unknown): string[] {
  const parsed = calendarWriteSkill.input.safeParse(raw);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

const MEETING = {
  title: "Quarterly review; budget, hiring",
  start: "2025-03-01T09:00:00+01:00",
  duration_minutes: 90,
  description: "Agenda:\n1. numbers\n2. plans",
  location: "Room 4, Berlin",
  attendees: ["ada@example.com", "grace@example.org"],
};

describe("calendar_write's input", () => {
  it("takes an end or a duration, and defaults the calendar and attendees", () => {
    expect(problems(MEETING)).toEqual([]);
    expect(calendarWriteSkill.input.parse({ title: "t", start: "2025-03-01T08:00:00Z", end: "2025-03-01T08:30:00z" })).toEqual({
      title: "t",
      start: "2025-03-01T08:00:00Z",
      end: "2025-03-01T08:30:00z",
      attendees: [],
      calendar: "default",
    });
  });

  it("refuses an end before the start, a time without an offset, and both end and duration, saying what to do", () => {
    const base = { title: "t", start: "2025-03-01T09:00:00+01:00" };
    expect(problems({ ...base, end: "2025-03-01T07:59:00Z" })).toEqual([
      "end: must be after start (2025-03-01T08:00:00Z); got 2025-03-01T07:59:00Z",
    ]);
    expect(problems({ ...base, end: "2025-03-01T08:00:00Z" })).toHaveLength(1);
    expect(problems({ title: "t", start: "2025-03-01T09:00:00", duration_minutes: 30 })).toEqual([
      'start: "2025-03-01T09:00:00" has no UTC offset, so its instant is unknown; add one, e.g. 2025-03-01T09:00:00+01:00 or 2025-03-01T08:00:00Z',
    ]);
    expect(problems({ ...base, end: "2025-03-01T10:00:00" })[0]).toMatch(/^end: .* has no UTC offset/);
    expect(problems({ ...base, end: "2025-03-01T10:00:00Z", duration_minutes: 30 })).toEqual([
      "duration_minutes: give end or duration_minutes, not both",
    ]);
    expect(problems(base)).toEqual(["end: give end (e.g. 2025-03-01T09:00:00+01:00) or duration_minutes"]);
  });

  it("refuses dates that do not exist, events longer than 31 days, and bad fields", () => {
    const at = (start: string) => ({ title: "t", start, duration_minutes: 30 });
    expect(problems(at("2025-03-01"))[0]).toMatch(/^start: "2025-03-01" is a date without a time/);
    expect(problems(at("2025-02-29T10:00:00Z"))).toEqual(['start: "2025-02-29T10:00:00Z" is not a real date, time or offset']);
    expect(problems(at("2025-03-01T24:00:00Z"))).toHaveLength(1);
    expect(problems(at("1850-03-01T10:00:00Z"))[0]).toMatch(/outside the years 1900 to 9999/);
    expect(problems({ title: "t", start: "2025-01-01T00:00:00Z", end: "2025-02-02T00:00:00Z" })).toEqual([
      "end: the event would last 32 days; at most 31 days",
    ]);
    expect(problems({ ...at("2025-03-01T10:00:00Z"), duration_minutes: 31 * 24 * 60 + 1 })).toEqual([
      "duration_minutes: at most 44640 minutes (31 days)",
    ]);
    expect(problems(at("9999-12-31T23:59:00Z"))).toEqual(["end: must be before the year 10000"]);
    for (const bad of [
      { title: "" },
      { title: "two\nlines" },
      { title: "x".repeat(256) },
      { description: "bell\u0007" },
      { location: "x".repeat(1001) },
      { attendees: ["not-an-email"] },
      { attendees: ["a@example.com", "A@example.com"] },
      { attendees: Array.from({ length: 101 }, (_, index) => `p${index}@example.com`) },
      { calendar: "Team Calendar" },
      { calendar: "" },
      { organizer: "a@example.com" },
    ]) {
      expect(problems({ ...at("2025-03-01T10:00:00Z"), ...bad }), JSON.stringify(bad)).not.toEqual([]);
    }
  });

  it("fails without a store, stops when its signal is aborted, and reports a lost database as retryable", async () => {
    expect(await caller(() => undefined)(MEETING)).toMatchObject({ status: "error", error: { code: "INTERNAL", retryable: false } });
    const never: CalendarStore = { write: () => new Promise(() => undefined), list: () => Promise.resolve([]) };
    const controller = new AbortController();
    const pending = caller(() => never)(MEETING, { signal: controller.signal });
    controller.abort();
    expect(await pending).toMatchObject({ status: "error", error: { code: "CANCELLED" } });
    const lost: CalendarStore = {
      write: () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })),
      list: () => Promise.resolve([]),
    };
    expect(await caller(() => lost)(MEETING)).toMatchObject({ status: "error", error: { code: "DATABASE_UNAVAILABLE", retryable: true } });
  });
});

describeOnBackends("calendar_write on $name", (backend) => {
  let db: TestDatabase;
  let call: ReturnType<typeof caller>;

  beforeAll(async () => {
    db = await backend.open();
    for (const tenant of ["tenant-a", "tenant-b"]) await ensureTenant(db.pool, tenant);
    call = caller(() => new PostgresCalendar(db));
  });
  afterAll(async () => {
    await db?.close();
  });

  it("writes an event, returns it in UTC with its .ics, and lists it for its tenant only", async () => {
    const key = `${randomUUID()}:2`;
    const result = resultOf(await call({ ...MEETING, calendar: "team" }, { idempotencyKey: key }));
    expect(result).toMatchObject({
      uid: eventUid("tenant-a", key),
      calendar: "team",
      title: MEETING.title,
      start: "2025-03-01T08:00:00Z",
      end: "2025-03-01T09:30:00Z",
      attendees: MEETING.attendees,
    });
    const ics = unfold(result.ics as string);
    expect(ics).toContain(`\r\nUID:${eventUid("tenant-a", key)}\r\n`);
    expect(ics).toContain("\r\nDTSTART:20250301T080000Z\r\nDTEND:20250301T093000Z\r\n");
    expect(ics).toContain("\r\nSUMMARY:Quarterly review\\; budget\\, hiring\r\n");
    expect(ics).toContain("\r\nDESCRIPTION:Agenda:\\n1. numbers\\n2. plans\r\n");
    expect(ics).toContain("\r\nATTENDEE;CN=ada@example.com:mailto:ada@example.com\r\n");

    const { rows } = await db.pool.query(
      `select tenant_id, calendar, uid, starts_at, created_at, attendees, run_id, step_index, idempotency_key
       from calendar_events where id = $1::uuid`,
      [result.event_id],
    );
    expect(rows).toMatchObject([{ tenant_id: "tenant-a", calendar: "team", attendees: MEETING.attendees, run_id: "run-1", step_index: 0, idempotency_key: key }]);
    const stamp = (rows[0].created_at as Date).toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
    expect(ics).toContain(`\r\nDTSTAMP:${stamp}\r\n`);

    const store = new PostgresCalendar(db);
    expect((await store.list("tenant-a", { calendar: "team" })).map((event) => event.id)).toContain(result.event_id);
    expect((await store.list("tenant-b")).map((event) => event.id)).not.toContain(result.event_id);
    expect(await store.list("tenant-b", { calendar: "team" })).toEqual([]);

    // The same step key under another tenant is another tenant's step: its own event, its own UID.
    const other = resultOf(await call({ ...MEETING, calendar: "team" }, { tenantId: "tenant-b", idempotencyKey: key }));
    expect(other.event_id).not.toBe(result.event_id);
    expect(other.uid).not.toBe(result.uid);
    expect((await store.list("tenant-b", { calendar: "team" })).map((event) => event.id)).toEqual([other.event_id]);
  });

  it("writes a retried step's event once: same event id, byte-identical .ics, even when the attempts race", async () => {
    const key = `${randomUUID()}:0`;
    const first = resultOf(await call(MEETING, { idempotencyKey: key }));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = resultOf(await call(MEETING, { idempotencyKey: key }));
    expect(again).toEqual(first);
    expect(Buffer.from(again.ics as string).equals(Buffer.from(first.ics as string))).toBe(true);

    const racing = `${randomUUID()}:1`;
    const both = await Promise.all([1, 2, 3].map(() => call(MEETING, { idempotencyKey: racing })));
    const results = both.map(resultOf);
    expect(new Set(results.map((result) => result.event_id)).size).toBe(1);
    expect(new Set(results.map((result) => result.ics)).size).toBe(1);

    const { rows } = await db.pool.query(
      `select idempotency_key, count(*)::int as n from calendar_events
       where tenant_id = 'tenant-a' and idempotency_key = any($1::text[]) group by idempotency_key order by 1`,
      [[key, racing]],
    );
    expect(rows.map((row) => row.n)).toEqual([1, 1]);
  });

  it("refuses a different event under an idempotency key that already wrote one", async () => {
    const key = `${randomUUID()}:0`;
    const first = resultOf(await call(MEETING, { idempotencyKey: key }));
    const reused = await call({ ...MEETING, title: "Something else" }, { idempotencyKey: key });
    expect(reused).toMatchObject({ status: "error", error: { code: "IDEMPOTENCY_KEY_REUSED", retryable: false, details: { event_id: first.event_id } } });
  });

  it("lists a tenant's calendar in start order within a time range", async () => {
    const tenant = `tenant-list-${randomUUID().slice(0, 8)}`;
    await ensureTenant(db.pool, tenant);
    const write = (title: string, start: string, calendar = "ops") =>
      call({ title, start, duration_minutes: 60, calendar }, { tenantId: tenant }).then(resultOf);
    await write("late", "2025-05-03T10:00:00Z");
    await write("early", "2025-05-01T10:00:00Z");
    await write("middle", "2025-05-02T10:00:00Z");
    await write("elsewhere", "2025-05-02T12:00:00Z", "home");
    const store = new PostgresCalendar(db);
    const titles = async (range: Parameters<CalendarStore["list"]>[1]) => (await store.list(tenant, range)).map((event) => event.title);
    expect(await titles({ calendar: "ops" })).toEqual(["early", "middle", "late"]);
    expect(await titles({})).toEqual(["early", "middle", "elsewhere", "late"]);
    // An event overlapping the range's start counts; one starting at its end does not.
    const range = { from: new Date("2025-05-01T10:30:00Z"), to: new Date("2025-05-03T10:00:00Z") };
    expect(await titles({ calendar: "ops", ...range })).toEqual(["early", "middle"]);
    expect(await titles({ limit: 1 })).toEqual(["early"]);
  });

  it("runs as a plan step through the runner: the event is in the table and the proof chain holds", async () => {
    const tenantId = `tenant-run-${randomUUID().slice(0, 8)}`;
    const detail = await runToEnd(db, testConfig(), {
      tenantId,
      goal: "book the review",
      plan: { steps: [{ step_id: "e", skill: "calendar_write", params: { ...MEETING, calendar: "reviews" } }] },
    });
    expect(detail.run.status).toBe("succeeded");
    expect(chainProblems(detail)).toEqual([]);
    // An external write: the intent row first, then the outcome.
    expect(detail.steps.map((step) => step.status)).toEqual(["started", "succeeded"]);
    const result = detail.steps[1]?.outcomeData as Record<string, unknown>;
    expect(result).toMatchObject({ calendar: "reviews", start: "2025-03-01T08:00:00Z", uid: eventUid(tenantId, `${detail.run.id}:0`) });
    const { rows } = await db.pool.query(
      `select id, run_id, step_index, agent_id, title from calendar_events where tenant_id = $1::text`,
      [tenantId],
    );
    expect(rows).toEqual([{ id: result.event_id, run_id: detail.run.id, step_index: 0, agent_id: detail.run.agentId, title: MEETING.title }]);
  });
});
