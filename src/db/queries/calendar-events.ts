import type { Queryable } from "../database.js";

// calendar_write's events (migration 0010). Every statement names the tenant, so a tenant's events are reachable
// only through that tenant's id.

const COLUMNS = `id, tenant_id, calendar, uid, title, description, location, starts_at, ends_at, attendees,
  agent_id, run_id, step_index, idempotency_key, created_at`;

export interface CalendarEventRow {
  id: string;
  tenant_id: string;
  calendar: string;
  uid: string;
  title: string;
  description: string | null;
  location: string | null;
  starts_at: Date;
  ends_at: Date;
  attendees: string[];
  agent_id: string | null;
  run_id: string | null;
  step_index: number | null;
  idempotency_key: string;
  created_at: Date;
}

export interface NewCalendarEvent {
  tenantId: string;
  calendar: string;
  uid: string;
  title: string;
  description: string | null;
  location: string | null;
  startsAt: Date;
  endsAt: Date;
  attendees: readonly string[];
  agentId: string | null;
  runId: string | null;
  stepIndex: number | null;
  idempotencyKey: string;
}

/**
 * Writes an event, or returns undefined when the tenant already has one under this idempotency key. Safe under
 * concurrency through the unique (tenant_id, idempotency_key) index: a second insert of a key whose first insert is
 * uncommitted waits on the index entry until that transaction ends, then does nothing (it committed) or inserts
 * (it rolled back). The existing row is not returned here: this statement's snapshot predates a row committed while
 * it waited, so the caller reads it with `findCalendarEventByIdempotencyKey`, a statement of its own.
 */
export async function insertCalendarEvent(db: Queryable, event: NewCalendarEvent): Promise<CalendarEventRow | undefined> {
  const { rows } = await db.query<CalendarEventRow>(
    `insert into calendar_events (
  tenant_id, calendar, uid, title, description, location, starts_at, ends_at, attendees,
  agent_id, run_id, step_index, idempotency_key
)
values (
  $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz, $8::timestamptz, $9::jsonb,
  $10::text, $11::text, $12::int, $13::text
)
on conflict (tenant_id, idempotency_key) do nothing
returning ${COLUMNS}`,
    [
      event.tenantId,
      event.calendar,
      event.uid,
      event.title,
      event.description,
      event.location,
      event.startsAt.toISOString(),
      event.endsAt.toISOString(),
      JSON.stringify(event.attendees),
      event.agentId,
      event.runId,
      event.stepIndex,
      event.idempotencyKey,
    ],
  );
  return rows[0];
}

/** The event a tenant's step wrote under its idempotency key, if any. */
export async function findCalendarEventByIdempotencyKey(
  db: Queryable,
  tenantId: string,
  idempotencyKey: string,
): Promise<CalendarEventRow | undefined> {
  const { rows } = await db.query<CalendarEventRow>(
    `select ${COLUMNS}
from calendar_events
where tenant_id = $1::text and idempotency_key = $2::text`,
    [tenantId, idempotencyKey],
  );
  return rows[0];
}

export interface CalendarEventFilter {
  tenantId: string;
  /** One calendar, or all of the tenant's when null. */
  calendar: string | null;
  /** Events that end after this instant; null for no lower bound. */
  from: Date | null;
  /** Events that start before this instant; null for no upper bound. */
  to: Date | null;
  limit: number;
}

/**
 * A tenant's events that overlap [from, to), in start order (the id breaks ties, so pages are stable). The index
 * on (tenant_id, calendar, starts_at) serves one calendar's range directly.
 */
export async function listCalendarEvents(db: Queryable, filter: CalendarEventFilter): Promise<CalendarEventRow[]> {
  const { rows } = await db.query<CalendarEventRow>(
    `select ${COLUMNS}
from calendar_events
where tenant_id = $1::text
  and ($2::text is null or calendar = $2::text)
  and ($3::timestamptz is null or ends_at > $3::timestamptz)
  and ($4::timestamptz is null or starts_at < $4::timestamptz)
order by starts_at, id
limit $5::int`,
    [filter.tenantId, filter.calendar, filter.from?.toISOString() ?? null, filter.to?.toISOString() ?? null, filter.limit],
  );
  return rows;
}
