import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildCalendar, escapeText, foldLine, formatUtc, type IcsEvent, unfold } from "./ics.js";

const octets = (text: string) => Buffer.byteLength(text, "utf8");

/** §3.3.11 in reverse, for checking that what was escaped reads back as the original. */
function unescapeText(text: string): string {
  return text.replace(/\\([\\;,nN])/g, (_, char: string) => (char.toLowerCase() === "n" ? "\n" : char));
}

/** The physical lines of iCalendar text, without their CRLFs; the text must end with one. */
function physicalLines(ics: string): string[] {
  expect(ics.endsWith("\r\n")).toBe(true);
  return ics.slice(0, -2).split("\r\n");
}

const EVENT: IcsEvent = {
  uid: "0123abcd@aos",
  stamp: new Date("2025-02-20T10:11:12.345Z"),
  start: new Date("2025-03-01T08:00:00Z"),
  end: new Date("2025-03-01T09:30:00Z"),
  title: "Planning; Q2, budget",
  description: "Agenda:\n1. numbers\\totals\r\n2. hiring",
  location: "Room 4, Berlin",
  attendees: ["ada@example.com", "grace.hopper+cal@example.org"],
};

describe("iCalendar TEXT escaping", () => {
  it("escapes backslash, semicolon and comma, and turns every kind of line break into \\n", () => {
    expect(escapeText("a\\b;c,d")).toBe("a\\\\b\\;c\\,d");
    expect(escapeText("one\ntwo\r\nthree\rfour")).toBe("one\\ntwo\\nthree\\nfour");
    expect(escapeText("\\n")).toBe("\\\\n");
    expect(escapeText("plain: text – ünïcode")).toBe("plain: text – ünïcode");
  });

  it("reads back as the original, line breaks normalised to \\n", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (value) => {
        expect(unescapeText(escapeText(value))).toBe(value.replace(/\r\n|\r/g, "\n"));
      }),
    );
  });
});

describe("iCalendar line folding", () => {
  it("leaves a line of 75 octets alone and folds the 76th octet onto a continuation line", () => {
    const line = "X".repeat(75);
    expect(foldLine(line)).toBe(line);
    expect(foldLine(`${line}Y`)).toBe(`${line}\r\n Y`);
    // The continuation's leading space counts: 74 octets of content fit after it, so 150 octets take three lines.
    expect(foldLine("X".repeat(150)).split("\r\n").map(octets)).toEqual([75, 75, 2]);
  });

  it("never splits a UTF-8 sequence, so a line with multi-byte text may end a few octets short", () => {
    const line = `SUMMARY:${"日本語のテキスト😀".repeat(12)}`;
    const folded = foldLine(line);
    const lines = folded.split("\r\n");
    expect(lines.length).toBeGreaterThan(3);
    for (const [index, physical] of lines.entries()) {
      expect(octets(physical)).toBeLessThanOrEqual(75);
      if (index < lines.length - 1) expect(octets(physical)).toBeGreaterThan(71);
      if (index > 0) expect(physical.startsWith(" ")).toBe(true);
      // A split inside a character would leave half a surrogate pair or bytes that do not decode.
      expect(physical).not.toMatch(/\p{Cs}/u);
      expect(Buffer.from(physical, "utf8").toString("utf8")).toBe(physical);
    }
    expect(unfold(folded)).toBe(line);
  });

  it("keeps every physical line within 75 octets and unfolds to the original, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (value) => {
        const line = `DESCRIPTION:${value}`;
        const folded = foldLine(line);
        for (const physical of folded.split("\r\n")) expect(octets(physical)).toBeLessThanOrEqual(75);
        expect(unfold(folded)).toBe(line);
      }),
    );
  });
});

describe("an iCalendar object", () => {
  it("is a VCALENDAR with one VEVENT per event, every property RFC 5545 needs, and times in UTC form", () => {
    const lines = unfold(buildCalendar([EVENT])).slice(0, -2).split("\r\n");
    expect(lines).toEqual([
      "BEGIN:VCALENDAR",
      "VERSION:2.0",
      "PRODID:-//AOS//calendar_write//EN",
      "CALSCALE:GREGORIAN",
      "BEGIN:VEVENT",
      "UID:0123abcd@aos",
      "DTSTAMP:20250220T101112Z",
      "DTSTART:20250301T080000Z",
      "DTEND:20250301T093000Z",
      "SUMMARY:Planning\\; Q2\\, budget",
      "DESCRIPTION:Agenda:\\n1. numbers\\\\totals\\n2. hiring",
      "LOCATION:Room 4\\, Berlin",
      "ATTENDEE;CN=ada@example.com:mailto:ada@example.com",
      "ATTENDEE;CN=grace.hopper+cal@example.org:mailto:grace.hopper+cal@example.org",
      "END:VEVENT",
      "END:VCALENDAR",
    ]);
  });

  it("uses CRLF for every line break, folds long lines, and leaves out a missing description and location", () => {
    const long = { ...EVENT, description: "Ünïcödé agenda, with commas; and more. ".repeat(20), location: null };
    const ics = buildCalendar([long, { ...EVENT, uid: "second@aos", description: null }]);
    expect(ics.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    for (const physical of physicalLines(ics)) expect(octets(physical)).toBeLessThanOrEqual(75);
    const lines = unfold(ics).split("\r\n");
    expect(lines.filter((line) => line === "BEGIN:VEVENT")).toHaveLength(2);
    expect(lines.filter((line) => line.startsWith("LOCATION:"))).toEqual(["LOCATION:Room 4\\, Berlin"]);
    const description = lines.filter((line) => line.startsWith("DESCRIPTION:"));
    expect(description).toHaveLength(1);
    expect(unescapeText((description[0] as string).slice("DESCRIPTION:".length))).toBe(long.description);
  });

  it("is the same bytes for the same events, and refuses to be empty", () => {
    expect(buildCalendar([EVENT])).toBe(buildCalendar([{ ...EVENT, attendees: [...EVENT.attendees] }]));
    expect(() => buildCalendar([])).toThrow(/at least one event/);
    expect(formatUtc(new Date("1999-12-31T23:59:59.999Z"))).toBe("19991231T235959Z");
  });
});
