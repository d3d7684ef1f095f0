// postgres_query's screen: refuses, before anything is sent, queries that cannot be a single read. It is the
// first of three walls and gives the clearest message; the database enforces the same rules again (see
// postgres-query.ts): the extended protocol parses one statement only, DECLARE … CURSOR FOR accepts only a
// SELECT, VALUES or TABLE query without data-modifying WITH, and a read-only transaction refuses every write.

export type Screened = { ok: true; text: string } | { ok: false; reason: string };

type Token = { kind: "word"; word: string } | { kind: "semicolon"; index: number } | { kind: "other"; char: string };

const READ_STARTS = new Set(["select", "with", "values", "table"]);
const DDL_DCL = new Set([
  "create", "alter", "drop", "truncate", "grant", "revoke", "copy", "call", "do", "execute", "vacuum", "listen",
  "notify", "unlisten", "set", "reset", "begin", "start", "commit", "end", "rollback", "abort", "savepoint",
  "release", "prepare", "deallocate", "lock", "reindex", "cluster", "refresh", "comment", "security", "import",
  "load", "discard", "checkpoint", "analyze", "analyse", "reassign", "declare", "fetch", "move", "close",
]);
const STRING_PREFIXES = new Set(["e", "b", "x", "n"]);
/** Writes, wherever they appear: `with x as (delete …) select …` and `select … into t` (a table) included. */
const WRITES = new Set(["insert", "update", "delete", "merge", "into"]);

export function screenQuery(query: string): Screened {
  const tokens = scanSql(query);
  const semicolon = tokens.findIndex((token) => token.kind === "semicolon");
  if (semicolon !== -1 && semicolon < tokens.length - 1) {
    return { ok: false, reason: "it holds more than one statement; send one query per step" };
  }
  const last = tokens[semicolon];
  const text = last?.kind === "semicolon" ? query.slice(0, last.index) : query;
  const first = tokens.find((token) => !(token.kind === "other" && token.char === "("));
  if (first === undefined || first.kind === "semicolon") return { ok: false, reason: "the query is empty" };
  if (first.kind !== "word" || !READ_STARTS.has(first.word)) {
    const named = first.kind === "word" ? `"${first.word}"` : `"${first.char}"`;
    const why = first.kind === "word" && DDL_DCL.has(first.word) ? " changes the database or the session" : " is not a read";
    return { ok: false, reason: `${named}${why}; only SELECT, WITH … SELECT, VALUES and TABLE queries run` };
  }
  const write = tokens.find((token) => token.kind === "word" && WRITES.has(token.word));
  if (write?.kind === "word") {
    return {
      ok: false,
      reason: `"${write.word}" writes data (also inside WITH, or SELECT … INTO); quote an identifier of that name`,
    };
  }
  return { ok: true, text };
}

/**
 * The query's code as tokens: unquoted words (lower-cased), semicolons and other characters. String literals
 * ('…', E'…' with backslash escapes, $tag$…$tag$), quoted identifiers and comments (-- and nested /* *\/) are
 * skipped, so a `;` or a keyword inside them counts for nothing.
 */
function scanSql(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const char = sql[i] as string;
    if (/\s/.test(char)) i += 1;
    else if (sql.startsWith("--", i)) i = endOfLine(sql, i);
    else if (sql.startsWith("/*", i)) i = endOfBlockComment(sql, i);
    else if (char === "'") i = endOfQuoted(sql, i, "'", isEscapeString(sql, i));
    else if (char === '"') i = endOfQuoted(sql, i, '"', false);
    else if (char === "$") i = endOfDollar(sql, i);
    else if (isWordStart(char)) {
      const start = i;
      while (i < sql.length && isWordPart(sql[i] as string)) i += 1;
      const word = sql.slice(start, i).toLowerCase();
      // E'…', B'…', X'…', N'…': the letter is the string's prefix, not a word.
      if (!(sql[i] === "'" && STRING_PREFIXES.has(word))) tokens.push({ kind: "word", word });
    } else {
      tokens.push(char === ";" ? { kind: "semicolon", index: i } : { kind: "other", char });
      i += 1;
    }
  }
  return tokens;
}

function isWordStart(char: string): boolean {
  return /[A-Za-z_\u0080-\uffff]/.test(char);
}

function isWordPart(char: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(char);
}

function endOfLine(sql: string, i: number): number {
  const newline = sql.indexOf("\n", i);
  return newline === -1 ? sql.length : newline + 1;
}

function endOfBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith("/*", i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith("*/", i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else i += 1;
  }
  return sql.length;
}

/** `E'…'` (not `someE'…'`, which is a syntax error anyway) takes backslash escapes. */
function isEscapeString(sql: string, quote: number): boolean {
  const prefix = sql[quote - 1];
  return (prefix === "e" || prefix === "E") && !isWordPart(sql[quote - 2] ?? " ");
}

function endOfQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const char = sql[i];
    if (backslashEscapes && char === "\\") i += 2;
    else if (char === quote && sql[i + 1] === quote) i += 2;
    else if (char === quote) return i + 1;
    else i += 1;
  }
  return sql.length;
}

/** `$tag$…$tag$` or `$$…$$`; a `$1` parameter is skipped as a character (its digits are not a word). */
function endOfDollar(sql: string, start: number): number {
  const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start))?.[0];
  if (tag === undefined) return start + 1;
  const close = sql.indexOf(tag, start + tag.length);
  return close === -1 ? sql.length : close + tag.length;
}
