import { isoTime, type Run, type TraceStep } from "../glossary.js";
import { isPruned, type RunDetail, shownRun } from "../views/run.js";
import { type Output, paint, printable, statusColor, table } from "./output.js";
import { proofLine } from "./present-proof.js";

/** One line per recorded attempt: its status, duration, cost, tokens (if any) and error. */
export function stepLine(output: Output, step: TraceStep): string {
  const attempt = step.attempt > 1 ? ` (attempt ${step.attempt})` : "";
  const tokens = step.tokens > 0 ? `  ${step.tokens} tokens` : "";
  const error = step.error === null ? "" : `  ${step.error.code}: ${step.error.message}`;
  const pruned = isPruned(step) ? "  (payload pruned)" : "";
  const spent = `${step.durationMs} ms  ${step.costCents}c${tokens}`;
  return `  ${printable(step.stepId)}  ${step.skillName}  ${paint(output, statusColor(step.status), step.status)}  ${spent}${attempt}${printable(error)}${pruned}`;
}

/**
 * The run for people: its facts (a finished run's from its proven run-end), its steps (unless they were shown
 * live), its last result, and the verdict on its trace.
 */
export function printRunSummary(output: Output, detail: RunDetail, options = { steps: true }): void {
  const { trace, steps } = detail;
  const run = shownRun(detail);
  const duration = run.durationMs === null ? "" : `, ${run.durationMs} ms`;
  output.out(`Run ${run.id}  ${paint(output, statusColor(run.status), run.status)}  (${steps.length} step rows${duration})`);
  const rows = [
    ["tenant", run.tenantId],
    ["agent", run.agentId],
    ["origin", run.originSystemId],
    ["goal", run.goal],
    ["attempts", String(run.attempts)],
    ["cost", `${run.costCents}c`],
  ];
  const agent = detail.agent;
  if (agent !== undefined && agent.budgetCents !== null) {
    rows.push(["agent budget", `${agent.budgetCents - agent.spentCents}c left of ${agent.budgetCents}c`]);
  }
  if (trace !== undefined) rows.push(["trace", `${trace.traceId} (${trace.status})`]);
  const { incident, evidence, llm } = detail;
  if (incident !== undefined) rows.push(["incident", `${incident.id} ${incident.outcome} ${incident.severity} ${incident.category}`]);
  if (evidence !== undefined) rows.push(["evidence", `${evidence.status} (score ${evidence.score.toFixed(2)})`]);
  if (llm !== undefined) {
    const calls = `${llm.callCount} call${llm.callCount === 1 ? "" : "s"}`;
    rows.push(["llm record", `${llm.status} ${llm.provider}/${llm.model}, ${calls}, ${llm.inputTokens}+${llm.outputTokens} tokens, ${llm.costMicrocents} micro-cents (${llm.costCents}c)`]);
  }
  const chainHead = detail.proof?.verdict.rootHash ?? trace?.rootHash;
  if (chainHead) rows.push(["chain head", chainHead]);
  for (const line of table(rows)) output.out(`  ${line}`);
  if (options.steps && steps.length > 0) {
    output.out("  steps:");
    for (const step of steps) output.out(`  ${stepLine(output, step)}`);
  }
  const last = steps.at(-1);
  if (run.status === "succeeded" && last !== undefined) {
    const result = isPruned(last) ? "(payload pruned)" : JSON.stringify(last.outcomeData);
    output.out(`  result: ${printable(result.length > 300 ? `${result.slice(0, 297)}...` : result)}`);
  }
  if (run.errorMessage !== null) output.out(`  ${paint(output, "red", "Error:")} ${printable(run.errorMessage)}`);
  if (run.status === "pending_approval") {
    output.out(`  waiting for approval: aos approve ${run.id} --tenant-id ${run.tenantId} --by NAME (or aos reject)`);
  }
  if (detail.proof !== undefined) output.out(`  ${proofLine(detail.proof.verdict)}`);
}

export function runListRow(run: Run): string[] {
  return [run.id, run.status, isoTime(run.createdAt) ?? "(not a time)", run.goal.length > 50 ? `${run.goal.slice(0, 47)}...` : run.goal];
}
