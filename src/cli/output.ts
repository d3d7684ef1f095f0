import { createInterface } from "node:readline/promises";
import { EXIT } from "./exit-codes.js";

/** Where a command writes. Injected so tests (and the in-process benchmark) can capture output. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Live progress and colour are for people at a terminal only. */
  readonly isTty: boolean;
  readonly color: boolean;
  /**
   * Draws the one line that changes in place (a spinner) over the last one drawn; "" clears it. Only where escape
   * codes are welcome (a terminal, NO_COLOR unset): elsewhere there is none, and nothing is drawn.
   */
  readonly redraw?: (line: string) => void;
  /** Asks a person a yes/no question; absent when no one is at a terminal to answer (stdin or stdout is not a TTY). */
  readonly confirm?: (question: string) => Promise<boolean>;
}

/** Where `aos` writes: the process's stdout and stderr (tests pass streams of their own, a terminal's or a pipe's). */
export function processOutput(
  noColor: boolean,
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Output {
  const isTty = Boolean(stdout.isTTY);
  // `aos … | head` closes the pipe early; that is the reader's choice, not an error worth a stack trace.
  stdout.once("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? EXIT.ok);
  });
  const color = isTty && !noColor;
  return {
    out: (text) => stdout.write(`${text}\n`),
    err: (text) => stderr.write(`${text}\n`),
    isTty,
    color,
    // Carriage return, then erase the line (CSI 2 K): the cursor stays on the line, ready for the next drawing.
    ...(color ? { redraw: (line: string) => stdout.write(`\r\u001b[2K${line}`) } : {}),
    ...(isTty && process.stdin.isTTY ? { confirm: askTerminal } : {}),
  };
}

/** A question on the terminal; only "y" or "yes" is a yes, so Enter alone keeps the safe answer. */
async function askTerminal(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^(y|yes)$/i.test((await terminal.question(`${question} [y/N] `)).trim());
  } finally {
    terminal.close();
  }
}

export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, null, 2));
}

const COLORS = { green: 32, red: 31, yellow: 33, dim: 2, bold: 1 } as const;

export function paint(output: Output, color: keyof typeof COLORS, text: string): string {
  return output.color ? `\u001b[${COLORS[color]}m${text}\u001b[0m` : text;
}

export function statusColor(status: string): keyof typeof COLORS {
  if (status === "succeeded" || status === "ok") return "green";
  if (status === "failed" || status === "halted" || status === "cancelled") return "red";
  return "yellow";
}

/** Control characters (C0, DEL, C1) and the invisible marks that reorder or hide text (bidi controls). */
const UNPRINTABLE = /[\p{Cc}\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;
const NAMED_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text that did not come from AOS itself (a goal, an error message, a bundle's run id or key name) as a terminal
 * may show it: every control or bidi character escaped (`\x1b`, `\u202e`), so it can neither drive the terminal
 * nor make a line read as something else. Colour is added after, by `paint`.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const code = char.codePointAt(0) as number;
    return NAMED_ESCAPES[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}

/** Left-aligned columns, for tables a person reads; cells are made printable. */
export function table(rows: string[][]): string[] {
  const cells = rows.map((row) => row.map(printable));
  const widths: number[] = [];
  for (const row of cells) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return cells.map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join("  ").trimEnd());
}
