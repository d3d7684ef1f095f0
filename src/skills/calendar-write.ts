import { createHash } from "node:crypto";
import { z } from "zod";
import { untilAborted } from "../abortable.js";
import type { CalendarEvent, CalendarEventDraft } from "./calendar/calendar-store.js";
import { PostgresCalendar } from "./calendar/postgres-calendar.js";
import { isoUtc, MAX_EVENT_YEAR, MIN_EVENT_YEAR, parseEventTime } from "./calendar/event-time.js";
import type { Skill, SkillContext, SkillOutcome } from "./contract.js";
import { buildCalendar } from "./ics.js";
import { abortedOutcome, failure, ok } from "./outcome.js";
import { storeFailure } from "./state-store-calls.js";

const NAME = "calendar_write";

/** 31 days: a month-long block (leave, a sprint) fits; an end typed in the wrong month or year does not. */
const MAX_EVENT_MINUTES = 31 * 24 * 60;
const MAX_ATTENDEES = 100;
const TIME_EXAMPLE = "2025-03-01T09:00:00+01:00";

// RFC 5545 TEXT cannot carry control characters other than tab (line breaks are escaped), and a lone UTF-16
// surrogate would come back from PostgreSQL as U+FFFD, so a retry would no longer match the event it wrote.
const FORBIDDEN_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\p{Cs}]/u;
const LINE_BREAK = /[\r\n]/;

function text(max: number) {
  return z
    .string()
    .max(max)
    .refine((value) => !FORBIDDEN_IN_TEXT.test(value), "control characters other than tab and line breaks are not allowed");
}

const inputSchema = z
  .object({
    title: text(255).min(1).refine((value) => !LINE_BREAK.test(value), "a title is one line"),
    start: z.string().describe(`ISO 8601 date-time with a UTC offset or Z, e.g. ${TIME_EXAMPLE}`),
    end: z.string().optional().describe("ISO 8601 date-time with an offset, after start; give end or duration_minutes"),
    duration_minutes: z
      .int()
      .min(1)
      .max(MAX_EVENT_MINUTES, `at most ${MAX_EVENT_MINUTES} minutes (31 days)`)
      .optional()
      .describe("give end or duration_minutes"),
    description: text(8000).optional(),
    location: text(1000).optional(),
    attendees: z.array(z.email()).max(MAX_ATTENDEES).default([]).describe("email addresses, each at most once"),
    calendar: z
      .string()
      .regex(/^[a-z0-9_-]{1,64}$/, "1 to 64 of a-z, 0-9, _ and -")
      .default("default")
      .describe("the tenant's calendar to write to"),
  })
  .strict()
  .superRefine((input, ctx) => {
    const times = eventTimes(input);
    if (!times.ok) ctx.addIssue({ code: "custom", path: [times.field], message: times.message });
    const seen = new Set<string>();
    input.attendees.forEach((email, index) => {
      if (seen.has(email.toLowerCase())) ctx.addIssue({ code: "custom", path: ["attendees", index], message: `${email} is listed twice` });
      seen.add(email.toLowerCase());
    });
  });

export type CalendarWriteInput = z.output<typeof inputSchema>;

export const calendarWriteSkill: Skill<CalendarWriteInput> = {
  name: NAME,
  version: "1.0.0",
  description:
    "Writes an event to one of the tenant's calendars in AOS's database and returns it with an RFC 5545 .ics " +
    "payload (times in UTC). Times need a UTC offset. Written once per step: a retried attempt gets the same " +
    "event, id and UID, and a byte-identical .ics.",
  input: inputSchema,
  output: {
    event_id: "the event's id (a UUID) in the tenant's calendar",
    uid: "the RFC 5545 UID, <hash of tenant and step>@aos: the same on every attempt of the step",
    calendar: "the calendar written to",
    title: "the title, as stored",
    start: "the start, ISO 8601 in UTC (2025-03-01T08:00:00Z)",
    end: "the end, ISO 8601 in UTC",
    attendees: "the attendees' email addresses",
    ics: "a VCALENDAR with this one VEVENT (CRLF line endings), to attach or import",
  },
  // Not deterministic: the same input in another step gives another event id and UID, and DTSTAMP is the time of
  // the first write. What holds instead is idempotency: every attempt of one step returns the same result.
  determinism: "non_deterministic",
  // It persists an event beyond the run, so the runner records an intent row before each attempt.
  sideEffects: "external_write",
  estimateLatencyMs: () => 20,
  estimateCostCents: () => 0,
  limits: {
    title_chars: 255,
    description_chars: 8000,
    location_chars: 1000,
    attendees: MAX_ATTENDEES,
    calendar_chars: 64,
    max_event_minutes: MAX_EVENT_MINUTES,
    years: `${MIN_EVENT_YEAR} to ${MAX_EVENT_YEAR}`,
  },
  failureCodes: ["VALIDATION_ERROR", "IDEMPOTENCY_KEY_REUSED", "DATABASE_UNAVAILABLE", "CONFLICT", "TIMEOUT", "CANCELLED", "INTERNAL", "SKILL_ERROR"],
  openResources: ({ db }) => ({ calendar: new PostgresCalendar(db) }),
  execute: executeCalendarWrite,
};

type EventTimes = { ok: true; start: Date; end: Date } | { ok: false; field: "start" | "end" | "duration_minutes"; message: string };

/** Start and end as instants, or which field is wrong and how; the one place both are worked out. */
function eventTimes(input: Pick<CalendarWriteInput, "start" | "end" | "duration_minutes">): EventTimes {
  const start = parseEventTime(input.start);
  if (!start.ok) return { ok: false, field: "start", message: start.message };
  if (input.end !== undefined && input.duration_minutes !== undefined) {
    return { ok: false, field: "duration_minutes", message: "give end or duration_minutes, not both" };
  }
  if (input.end === undefined && input.duration_minutes === undefined) {
    return { ok: false, field: "end", message: `give end (e.g. ${TIME_EXAMPLE}) or duration_minutes` };
  }
  const end =
    input.end === undefined
      ? { ok: true as const, instant: new Date(start.instant.getTime() + (input.duration_minutes ?? 0) * 60_000) }
      : parseEventTime(input.end);
  if (!end.ok) return { ok: false, field: "end", message: end.message };
  if (end.instant.getTime() <= start.instant.getTime()) {
    return { ok: false, field: "end", message: `must be after start (${isoUtc(start.instant)}); got ${isoUtc(end.instant)}` };
  }
  const minutes = (end.instant.getTime() - start.instant.getTime()) / 60_000;
  // A duration_minutes past the limit is refused by its own schema, which says so already.
  if (input.end !== undefined && minutes > MAX_EVENT_MINUTES) {
    return { ok: false, field: "end", message: `the event would last ${Math.ceil(minutes / 1440)} days; at most ${MAX_EVENT_MINUTES / 1440} days` };
  }
  if (end.instant.getUTCFullYear() > MAX_EVENT_YEAR) return { ok: false, field: "end", message: `must be before the year ${MAX_EVENT_YEAR + 1}` };
  return { ok: true, start: start.instant, end: end.instant };
}

/** `<hex>@aos`: from the tenant and the step's idempotency key, so every attempt of a step gives the same UID. */
export function eventUid(tenantId: string, idempotencyKey: string): string {
  return `${createHash("sha256").update(JSON.stringify(["aos-calendar", tenantId, idempotencyKey])).digest("hex").slice(0, 40)}@aos`;
}

async function executeCalendarWrite(input: CalendarWriteInput, ctx: SkillContext): Promise<SkillOutcome> {
  if (ctx.calendar === undefined) return failure("INTERNAL", `${NAME} was given no calendar store in its context; nothing was written`);
  if (ctx.signal.aborted) return abortedOutcome(NAME, ctx.signal);
  const times = eventTimes(input);
  if (!times.ok) return failure("VALIDATION_ERROR", `invalid params for ${NAME}: ${times.field}: ${times.message}`);
  const draft: CalendarEventDraft = {
    calendar: input.calendar,
    uid: eventUid(ctx.tenantId, ctx.idempotencyKey),
    title: input.title,
    // An empty description or location is no description or location: the .ics leaves the property out.
    description: input.description || null,
    location: input.location || null,
    start: times.start,
    end: times.end,
    attendees: input.attendees,
  };
  const origin = { idempotencyKey: ctx.idempotencyKey, agentId: ctx.agentId, runId: ctx.runId, stepIndex: ctx.stepIndex };
  try {
    return ok(resultOf(await untilAborted(ctx.calendar.write(ctx.tenantId, draft, origin), ctx.signal)));
  } catch (error) {
    if (ctx.signal.aborted) return abortedOutcome(NAME, ctx.signal);
    return storeFailure(NAME, error);
  }
}

/** Built from the stored event, never the input, so a retry that finds the first attempt's event returns the same bytes. */
function resultOf(event: CalendarEvent): Record<string, unknown> {
  return {
    event_id: event.id,
    uid: event.uid,
    calendar: event.calendar,
    title: event.title,
    start: isoUtc(event.start),
    end: isoUtc(event.end),
    attendees: [...event.attendees],
    ics: buildCalendar([{ ...event, stamp: event.createdAt }]),
  };
}
