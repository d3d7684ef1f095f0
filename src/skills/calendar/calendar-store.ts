import { AppError } from "../../errors.js";

/**
 * Where calendar_write keeps its events: a per-tenant calendar table in AOS's own database. A skill gets this port,
 * never a database handle, and every call names its tenant, so no other tenant's events are reachable.
 */
export interface CalendarStore {
  /**
   * Writes an event once per tenant and idempotency key. A repeat under the key returns the event the first call
   * wrote, its id and created_at included, so a retried step reports (and builds the .ics of) the same event.
   * Throws AppError IDEMPOTENCY_KEY_REUSED when the key already holds a different event.
   */
  write(tenantId: string, draft: CalendarEventDraft, origin: CalendarWriteOrigin): Promise<CalendarEvent>;
  /** The tenant's events overlapping the range, in start order. */
  list(tenantId: string, range?: CalendarRange): Promise<CalendarEvent[]>;
}

/** An event as a step asks for it; times are whole seconds (iCalendar has no fractions). */
export interface CalendarEventDraft {
  calendar: string;
  /** The RFC 5545 UID, derived by the caller from the tenant and the step's idempotency key. */
  uid: string;
  title: string;
  description: string | null;
  location: string | null;
  start: Date;
  end: Date;
  attendees: readonly string[];
}

/** The step that writes: its idempotency key deduplicates, the ids say where the event came from. */
export interface CalendarWriteOrigin {
  idempotencyKey: string;
  agentId: string;
  runId: string;
  stepIndex: number;
}

/** A stored event. */
export interface CalendarEvent extends CalendarEventDraft {
  id: string;
  tenantId: string;
  agentId: string | null;
  runId: string | null;
  stepIndex: number | null;
  /** When the first write committed; the .ics's DTSTAMP, so every retry builds the same bytes. */
  createdAt: Date;
}

export interface CalendarRange {
  /** One calendar; all of the tenant's when absent. */
  calendar?: string;
  /** Events ending after this instant. */
  from?: Date;
  /** Events starting before this instant. */
  to?: Date;
  /** At most this many, the earliest first; CALENDAR_LIST_MAX when absent. */
  limit?: number;
}

export const CALENDAR_LIST_MAX = 1000;

/** Whether a stored event is what a draft asks for, so a repeat can be told from a different event under one key. */
export function sameEvent(event: CalendarEvent, draft: CalendarEventDraft): boolean {
  return (
    event.calendar === draft.calendar &&
    event.uid === draft.uid &&
    event.title === draft.title &&
    event.description === draft.description &&
    event.location === draft.location &&
    event.start.getTime() === draft.start.getTime() &&
    event.end.getTime() === draft.end.getTime() &&
    event.attendees.length === draft.attendees.length &&
    event.attendees.every((attendee, index) => attendee === draft.attendees[index])
  );
}

export function eventKeyReused(idempotencyKey: string, event: CalendarEvent): AppError {
  return new AppError(
    "IDEMPOTENCY_KEY_REUSED",
    `calendar_write: idempotency key ${idempotencyKey} already wrote event ${event.id} ("${event.title}"), which differs from this one`,
    { details: { idempotency_key: idempotencyKey, event_id: event.id } },
  );
}
