import type { Database } from "../../db/database.js";
import {
  type CalendarEventRow,
  findCalendarEventByIdempotencyKey,
  insertCalendarEvent,
  listCalendarEvents,
} from "../../db/queries/calendar-events.js";
import { AppError } from "../../errors.js";
import {
  CALENDAR_LIST_MAX,
  type CalendarEvent,
  type CalendarEventDraft,
  type CalendarRange,
  type CalendarStore,
  type CalendarWriteOrigin,
  eventKeyReused,
  sameEvent,
} from "./calendar-store.js";

/** calendar_write's events in AOS's own database (table calendar_events, migration 0010). */
export class PostgresCalendar implements CalendarStore {
  constructor(private readonly db: Database) {}

  /**
   * Two statements, no transaction: the insert does nothing when the key is taken (waiting out a concurrent first
   * write), and the read that follows, with a snapshot of its own, sees the event that write committed.
   */
  async write(tenantId: string, draft: CalendarEventDraft, origin: CalendarWriteOrigin): Promise<CalendarEvent> {
    const inserted = await insertCalendarEvent(this.db.pool, {
      tenantId,
      calendar: draft.calendar,
      uid: draft.uid,
      title: draft.title,
      description: draft.description,
      location: draft.location,
      startsAt: draft.start,
      endsAt: draft.end,
      attendees: draft.attendees,
      agentId: origin.agentId,
      runId: origin.runId,
      stepIndex: origin.stepIndex,
      idempotencyKey: origin.idempotencyKey,
    });
    if (inserted !== undefined) return eventOf(inserted);
    const existing = await findCalendarEventByIdempotencyKey(this.db.pool, tenantId, origin.idempotencyKey);
    // AOS never deletes events; only someone editing the table by hand between the two statements gets here.
    if (existing === undefined) {
      throw AppError.retryable("CONFLICT", `calendar_write: the event under idempotency key ${origin.idempotencyKey} vanished while it was read; retry`);
    }
    const event = eventOf(existing);
    if (!sameEvent(event, draft)) throw eventKeyReused(origin.idempotencyKey, event);
    return event;
  }

  async list(tenantId: string, range: CalendarRange = {}): Promise<CalendarEvent[]> {
    const rows = await listCalendarEvents(this.db.pool, {
      tenantId,
      calendar: range.calendar ?? null,
      from: range.from ?? null,
      to: range.to ?? null,
      limit: Math.min(range.limit ?? CALENDAR_LIST_MAX, CALENDAR_LIST_MAX),
    });
    return rows.map(eventOf);
  }
}

function eventOf(row: CalendarEventRow): CalendarEvent {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    calendar: row.calendar,
    uid: row.uid,
    title: row.title,
    description: row.description,
    location: row.location,
    start: row.starts_at,
    end: row.ends_at,
    attendees: row.attendees,
    agentId: row.agent_id,
    runId: row.run_id,
    stepIndex: row.step_index,
    createdAt: row.created_at,
  };
}
