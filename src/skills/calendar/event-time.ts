// Event times as calendar_write takes them: ISO 8601 / RFC 3339 date-times that say which instant they mean.

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Four-digit years, as the .ics's date-time form needs; anything earlier than 1900 is a typo, not a meeting. */
export const MIN_EVENT_YEAR = 1900;
export const MAX_EVENT_YEAR = 9999;

export type ParsedTime = { ok: true; instant: Date } | { ok: false; message: string };

/**
 * The instant a date-time names, to the whole second (iCalendar has no fractions, so they are dropped). A local time
 * without an offset is refused rather than read in the worker's time zone, which would put the event wherever the
 * worker happens to run; the message says how to fix it.
 */
export function parseEventTime(text: string): ParsedTime {
  const example = "e.g. 2025-03-01T09:00:00+01:00 or 2025-03-01T08:00:00Z";
  if (DATE_ONLY.test(text)) {
    return { ok: false, message: `"${text}" is a date without a time; give a date-time with an offset, ${example}` };
  }
  // RFC 3339 allows a lower-case t and z.
  const match = DATE_TIME.exec(text.toUpperCase());
  if (match === null) return { ok: false, message: `"${text}" is not an ISO 8601 date-time with an offset, ${example}` };
  const [, year, month, day, hour, minute, second = "00", , offset] = match;
  if (offset === undefined) {
    return { ok: false, message: `"${text}" has no UTC offset, so its instant is unknown; add one, ${example}` };
  }
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const local = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC reads years 0-99 as 1900-1999; setting the year again keeps "0050" the year 50 (refused below).
  local.setUTCFullYear(y, mo - 1, d);
  // Date.UTC rolls 2025-02-30 over into March; a date that does not come back unchanged did not exist.
  const real =
    local.getUTCFullYear() === y && local.getUTCMonth() === mo - 1 && local.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  const offsetMinutes = offset === "Z" ? 0 : offsetMinutesOf(offset);
  if (!real || offsetMinutes === undefined) return { ok: false, message: `"${text}" is not a real date, time or offset` };
  const instant = new Date(local.getTime() - offsetMinutes * 60_000);
  const instantYear = instant.getUTCFullYear();
  if (instantYear < MIN_EVENT_YEAR || instantYear > MAX_EVENT_YEAR) {
    return { ok: false, message: `"${text}" is outside the years ${MIN_EVENT_YEAR} to ${MAX_EVENT_YEAR}` };
  }
  return { ok: true, instant };
}

/** "+05:30" (or "+0530") is 330 minutes; undefined for an offset no time zone has (hours past 23, minutes past 59). */
function offsetMinutesOf(offset: string): number | undefined {
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(-2));
  if (hours > 23 || minutes > 59) return undefined;
  return (offset.startsWith("-") ? -1 : 1) * (hours * 60 + minutes);
}

/** An instant as ISO 8601 in UTC without fractions: 2025-03-01T08:00:00Z. */
export function isoUtc(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}
