// iCalendar (RFC 5545) text for calendar events: what calendar_write returns and `aos calendar --ics` prints. Pure:
// the same events give the same bytes, which is what makes a retried step's .ics byte-identical.

/** One VEVENT's content. Times are instants; they are written in UTC form, so no VTIMEZONE is needed. */
export interface IcsEvent {
  uid: string;
  /** DTSTAMP: when the event was first written, not when this text is built, so rebuilding changes nothing. */
  stamp: Date;
  start: Date;
  end: Date;
  title: string;
  description: string | null;
  location: string | null;
  attendees: readonly string[];
}

const ICS_PRODID = "-//AOS//calendar_write//EN";

/** §3.1: a content line SHOULD NOT be longer than 75 octets, excluding the line break. */
const MAX_LINE_OCTETS = 75;
const CRLF = "\r\n";

/** A VCALENDAR object holding the events, with CRLF line endings (the last line ends with one too). */
export function buildCalendar(events: readonly IcsEvent[]): string {
  // §3.4: an iCalendar object holds at least one component.
  if (events.length === 0) throw new RangeError("an iCalendar object needs at least one event");
  const lines = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    `PRODID:${ICS_PRODID}`,
    "CALSCALE:GREGORIAN",
    ...events.flatMap(eventLines),
    "END:VCALENDAR",
  ];
  return lines.map((line) => foldLine(line) + CRLF).join("");
}

function eventLines(event: IcsEvent): string[] {
  return [
    "BEGIN:VEVENT",
    `UID:${event.uid}`,
    `DTSTAMP:${formatUtc(event.stamp)}`,
    `DTSTART:${formatUtc(event.start)}`,
    `DTEND:${formatUtc(event.end)}`,
    `SUMMARY:${escapeText(event.title)}`,
    ...(event.description === null ? [] : [`DESCRIPTION:${escapeText(event.description)}`]),
    ...(event.location === null ? [] : [`LOCATION:${escapeText(event.location)}`]),
    ...event.attendees.map((email) => `ATTENDEE;CN=${paramValue(email)}:mailto:${email}`),
    "END:VEVENT",
  ];
}

/** §3.3.5 form #2, UTC time: 19980119T070000Z. Fractions of a second are dropped; the format has none. */
export function formatUtc(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

/**
 * §3.3.11 TEXT: backslash, semicolon and comma are escaped with a backslash, and every line break (CRLF, LF or a
 * lone CR) becomes the two characters `\n`. The backslash goes first, so the escapes added after it stay single.
 */
export function escapeText(value: string): string {
  return value
    .replace(/\\/g, "\\\\")
    .replace(/;/g, "\\;")
    .replace(/,/g, "\\,")
    .replace(/\r\n|\r|\n/g, "\\n");
}

/**
 * §3.2 param-value: quoted when it holds a character that would end the parameter (`;`, `:` or `,`). DQUOTE and
 * control characters cannot appear even quoted, so they are dropped (a CN is a display name; nothing reads it back).
 */
function paramValue(value: string): string {
  const safe = value.replace(/[\u0000-\u0008\u000a-\u001f\u007f"]/g, "");
  return /[;:,]/.test(safe) ? `"${safe}"` : safe;
}

/**
 * §3.1 folding: a line longer than 75 octets is split, each continuation starting with one space that counts
 * towards its own 75. Splits fall between code points, never inside a UTF-8 sequence, so a line may end a few
 * octets short; unfolding (deleting every CRLF followed by one space) gives back the original line.
 */
export function foldLine(line: string): string {
  const pieces: string[] = [];
  let piece = "";
  let octets = 0;
  for (const char of line) {
    const size = Buffer.byteLength(char, "utf8");
    const room = pieces.length === 0 ? MAX_LINE_OCTETS : MAX_LINE_OCTETS - 1;
    if (octets + size > room) {
      pieces.push(piece);
      piece = "";
      octets = 0;
    }
    piece += char;
    octets += size;
  }
  pieces.push(piece);
  return pieces.join(`${CRLF} `);
}

/** §3.1 unfolding, the inverse of `foldLine`: for readers of the text, and for tests. */
export function unfold(text: string): string {
  return text.replace(/\r\n[ \t]/g, "");
}
