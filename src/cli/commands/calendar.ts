import { Command } from "commander";
import { AppError } from "../../errors.js";
import { requireTenant } from "../../services/agents.js";
import { CALENDAR_LIST_MAX, type CalendarEvent, type CalendarRange } from "../../skills/calendar/calendar-store.js";
import { isoUtc, parseEventTime } from "../../skills/calendar/event-time.js";
import { PostgresCalendar } from "../../skills/calendar/postgres-calendar.js";
import { buildCalendar } from "../../skills/ics.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { printJson, table } from "../output.js";

interface CalendarFlags extends CommonFlags {
  tenantId: string;
  calendar?: string;
  from?: string;
  to?: string;
  limit: string;
  ics?: boolean;
}

const DEFAULT_LIMIT = 100;

export function calendarCommand(ctx: CliContext): Command {
  return new Command("calendar")
    .description("list a tenant's calendar events (written by calendar_write steps), earliest first, or print them as one .ics")
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("--calendar <name>", "only this calendar (default: all of the tenant's calendars)")
    .option("--from <date-time>", "only events ending after this ISO 8601 date-time with an offset, e.g. 2025-03-01T00:00:00Z")
    .option("--to <date-time>", "only events starting before this ISO 8601 date-time with an offset")
    .option("--limit <n>", `at most this many events, 1 to ${CALENDAR_LIST_MAX}`, String(DEFAULT_LIMIT))
    .option("--ics", "print one iCalendar object (RFC 5545) holding the events, to import into a calendar app")
    .option("--json", "print as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CalendarFlags) => {
      if (flags.ics === true && flags.json === true) throw new AppError("USAGE", "choose one of --ics and --json");
      const tenantId = requireTenant(flags.tenantId);
      const range = rangeOf(flags);
      const events = await withDatabase(ctx, (db) => new PostgresCalendar(db).list(tenantId, range));
      if (flags.ics === true) return printIcs(ctx, tenantId, events);
      if (flags.json === true) return printJson(ctx.output, events.map(eventJson));
      if (events.length === 0) return ctx.output.out(`No events for tenant ${tenantId}.`);
      const rows = events.map((event) => [isoUtc(event.start), isoUtc(event.end), event.calendar, event.id, event.title]);
      for (const line of table([["START (UTC)", "END (UTC)", "CALENDAR", "EVENT", "TITLE"], ...rows])) ctx.output.out(line);
      if (events.length === range.limit) ctx.output.out(`(the first ${range.limit}; raise --limit or narrow --from/--to for more)`);
    });
}

/** The flags as a range the store takes; a flag that cannot be read is a usage error naming it. */
function rangeOf(flags: CalendarFlags): CalendarRange & { limit: number } {
  const limit = parseWholeNumber("--limit", flags.limit) ?? DEFAULT_LIMIT;
  if (limit < 1 || limit > CALENDAR_LIST_MAX) throw new AppError("USAGE", `--limit must be 1 to ${CALENDAR_LIST_MAX}, got ${limit}`);
  if (flags.calendar !== undefined && !/^[a-z0-9_-]{1,64}$/.test(flags.calendar)) {
    throw new AppError("USAGE", `--calendar must be 1 to 64 of a-z, 0-9, _ and -, got "${flags.calendar}"`);
  }
  return {
    limit,
    ...(flags.calendar === undefined ? {} : { calendar: flags.calendar }),
    ...(flags.from === undefined ? {} : { from: instantOf("--from", flags.from) }),
    ...(flags.to === undefined ? {} : { to: instantOf("--to", flags.to) }),
  };
}

function instantOf(flag: string, text: string): Date {
  const parsed = parseEventTime(text);
  if (!parsed.ok) throw new AppError("USAGE", `${flag}: ${parsed.message}`);
  return parsed.instant;
}

/**
 * The .ics goes to stdout byte for byte, CRLFs included; a note about an empty result goes to stderr, so
 * `aos calendar --ics > team.ics` never writes a note into the file (and an iCalendar object cannot be empty).
 */
function printIcs(ctx: CliContext, tenantId: string, events: CalendarEvent[]): void {
  if (events.length === 0) return ctx.output.err(`No events for tenant ${tenantId}; no .ics printed.`);
  const ics = buildCalendar(events.map((event) => ({ ...event, stamp: event.createdAt })));
  // `out` ends what it prints with "\n": leaving off the final "\n" keeps the last line's CRLF intact.
  ctx.output.out(ics.slice(0, -1));
}

function eventJson(event: CalendarEvent): Record<string, unknown> {
  return {
    event_id: event.id,
    calendar: event.calendar,
    uid: event.uid,
    title: event.title,
    description: event.description,
    location: event.location,
    start: isoUtc(event.start),
    end: isoUtc(event.end),
    attendees: event.attendees,
    agent_id: event.agentId,
    run_id: event.runId,
    step_index: event.stepIndex,
    created_at: event.createdAt.toISOString(),
  };
}
