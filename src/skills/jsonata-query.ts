import jsonata from "jsonata";

/** JSONata functions whose result depends on the clock or chance: a query using them would not be deterministic. */
const NON_DETERMINISTIC = new Set(["now", "millis", "random"]);
export const MAX_QUERY_LENGTH = 2000;
export const QUERY_TIME_LIMIT_MS = 1000;
export const QUERY_DEPTH_LIMIT = 500;

export type CompiledQuery = { ok: true; expression: jsonata.Expression } | { ok: false; message: string };

/** Compiles a JSONata query, refusing one that calls a clock or random function (json_transform is deterministic). */
export function compileQuery(query: string): CompiledQuery {
  let expression: jsonata.Expression;
  try {
    // JSONata's own guardrails: evaluation stops past this time or depth (errors D1012 and D1011).
    expression = jsonata(query, { timeout: QUERY_TIME_LIMIT_MS, stack: QUERY_DEPTH_LIMIT });
  } catch (error) {
    const { message, position } = error as { message?: string; position?: number };
    return { ok: false, message: `not a JSONata query: ${message ?? String(error)}${position === undefined ? "" : ` (at character ${position})`}` };
  }
  const called = nonDeterministicCall(expression.ast());
  if (called !== undefined) {
    return { ok: false, message: `$${called}() is not allowed: json_transform is deterministic (the same payload gives the same result)` };
  }
  return { ok: true, expression };
}

/** The first clock or random function the query calls, walking its syntax tree. */
function nonDeterministicCall(node: unknown): string | undefined {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = nonDeterministicCall(child);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof node !== "object" || node === null) return undefined;
  const record = node as Record<string, unknown>;
  const procedure = record.procedure as { type?: string; value?: unknown } | undefined;
  if (record.type === "function" && procedure?.type === "variable" && NON_DETERMINISTIC.has(String(procedure.value))) {
    return String(procedure.value);
  }
  for (const value of Object.values(record)) {
    const found = nonDeterministicCall(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Evaluates a compiled query; a runaway expression (deep recursion, an endless loop written as a recursive function)
 * stops at the guardrails set when it was compiled and fails the step instead of holding the worker.
 */
export async function evaluateBounded(expression: jsonata.Expression, payload: unknown): Promise<unknown> {
  try {
    return await expression.evaluate(payload);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === "D1012") throw new Error(`the query ran longer than ${QUERY_TIME_LIMIT_MS} ms`);
    if (code === "D1011") throw new Error(`the query nested deeper than ${QUERY_DEPTH_LIMIT} levels`);
    throw error;
  }
}
