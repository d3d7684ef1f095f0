import { type AttemptStarted, isoTime, type Run, type TraceStep } from "../glossary.js";
import { stepJson } from "./run.js";

/**
 * What happens to a run, as it is recorded: `status` when its status changes, `step_started` when an attempt begins
 * executing, `step` for each trace row, and `end` once it is terminal (src/services/run-events.ts follows a run).
 */
export type RunEvent =
  | { kind: "status"; run: Run }
  | { kind: "step_started"; started: AttemptStarted }
  | { kind: "step"; step: TraceStep }
  | { kind: "end"; run: Run };

/** An event as the API's stream sends it and `aos get-run --watch --json` prints it: its name, id (steps) and data. */
export interface RunEventJson {
  event: RunEvent["kind"];
  id?: number;
  data: Record<string, unknown>;
}

export function runEventJson(runId: string, event: RunEvent): RunEventJson {
  switch (event.kind) {
    case "status":
      return { event: "status", data: { run_id: runId, status: event.run.status, error_message: event.run.errorMessage } };
    case "step_started":
      return { event: "step_started", data: { run_id: runId, ...attemptStartedJson(event.started) } };
    case "step":
      return { event: "step", id: event.step.seq, data: { run_id: runId, ...stepJson(event.step) } };
    case "end":
      return { event: "end", data: { run_id: runId, status: event.run.status } };
  }
}

function attemptStartedJson(started: AttemptStarted): Record<string, unknown> {
  return {
    step_index: started.stepIndex,
    step_id: started.stepId,
    skill: started.skillName,
    attempt: started.attempt,
    decision: started.decision,
    started_at: isoTime(started.startedAt),
  };
}
