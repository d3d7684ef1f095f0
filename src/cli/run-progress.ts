import type { Queryable } from "../db/database.js";
import { type AttemptStarted, isTerminal, type Run, type StepDecision } from "../glossary.js";
import { followRun, type RunEvent } from "../services/run-events.js";
import { type Output, paint, printable, statusColor } from "./output.js";
import { stepLine } from "./present-run.js";

/** How often a followed run is read from the database: often enough to feel live, cheap beside a step. */
export const FOLLOW_POLL_MS = 200;

/** How often the spinner of the running step is redrawn. */
const SPINNER_MS = 100;
const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * A run's events as lines for people: one when an attempt starts (step id, skill, attempt, decision), one when it
 * ends (status, duration, cost, tokens, error), status changes worth telling, and the run's end. Where the output
 * can redraw a line (a terminal, NO_COLOR unset), the running attempt has a spinner with its elapsed time, cleared
 * before the next line; elsewhere only the lines are written.
 */
export class RunProgressView {
  private spinner: { timer: NodeJS.Timeout; started: AttemptStarted; frame: number } | undefined;
  private seenStatus = false;

  constructor(
    private readonly output: Output,
    /** Print the first status as the watch's header (`aos run` has printed its own). */
    private readonly header: boolean,
  ) {}

  show(runId: string, event: RunEvent): void {
    switch (event.kind) {
      case "status":
        return this.status(runId, event.run);
      case "step_started":
        this.line(startLine(this.output, event.started));
        return this.spin(event.started);
      case "step":
        // An intent row is the start already told; every other row ends an attempt.
        if (event.step.status === "started") return;
        return this.line(stepLine(this.output, event.step));
      case "end":
        return this.line(`  run ${paint(this.output, statusColor(event.run.status), event.run.status)}`);
    }
  }

  /** Stops the spinner and clears its line. */
  close(): void {
    if (this.spinner === undefined) return;
    clearInterval(this.spinner.timer);
    this.spinner = undefined;
    this.output.redraw?.("");
  }

  private status(runId: string, run: Run): void {
    const first = !this.seenStatus;
    this.seenStatus = true;
    if (first) {
      // A run that has ended already is summed up by its `end` (and the summary after it).
      if (this.header && !isTerminal(run.status)) this.line(`Run ${runId}  ${paint(this.output, statusColor(run.status), run.status)}`);
      return;
    }
    // Going to running is what every run does, and its ending is the `end`; the others are news: parked, handed
    // back, waiting to be retried.
    if (run.status === "running" || isTerminal(run.status)) return;
    const why = run.errorMessage === null || run.status === "pending_approval" ? "" : `: ${printable(run.errorMessage)}`;
    this.line(`  run ${paint(this.output, statusColor(run.status), run.status)}${why}`);
  }

  private line(text: string): void {
    this.close();
    this.output.out(text);
  }

  private spin(started: AttemptStarted): void {
    const { redraw } = this.output;
    if (redraw === undefined) return;
    const draw = () => {
      if (this.spinner === undefined) return;
      const seconds = Math.max(0, (Date.now() - started.startedAt.getTime()) / 1000).toFixed(1);
      const frame = FRAMES[this.spinner.frame++ % FRAMES.length] as string;
      redraw(`  ${frame} ${printable(started.stepId)}  ${started.skillName}  running  ${seconds} s`);
    };
    const timer = setInterval(draw, SPINNER_MS);
    // The spinner never keeps the process alive: whatever it shows progress of does.
    timer.unref();
    this.spinner = { timer, started, frame: 0 };
    draw();
  }
}

/** `  fetch  http_call  started  attempt 1  allow (policy): reason` */
export function startLine(output: Output, started: AttemptStarted): string {
  const status = paint(output, "yellow", "started");
  return `  ${printable(started.stepId)}  ${started.skillName}  ${status}  attempt ${started.attempt}  ${decisionText(started.decision)}`;
}

function decisionText(decision: StepDecision | null): string {
  if (decision === null) return "(no decision recorded)";
  const reason = decision.reason === "allowed" ? "" : `: ${decision.reason}`;
  return printable(`${decision.action} (${decision.policy_id})${reason}`);
}

/**
 * Prints a run's events as they are recorded, until it ends or `stop` is aborted (then what was recorded before the
 * stop is printed too). Throws RUN_NOT_FOUND (another tenant's run too) before printing anything.
 */
export async function printRunProgress(
  output: Output,
  db: Queryable,
  run: { tenantId: string; id: string },
  options: { header: boolean; stop?: AbortSignal },
): Promise<void> {
  const view = new RunProgressView(output, options.header);
  const events = await followRun(db, run.tenantId, run.id, { pollMs: FOLLOW_POLL_MS, ...(options.stop === undefined ? {} : { stop: options.stop }) });
  try {
    for await (const event of events) view.show(run.id, event);
  } finally {
    view.close();
  }
}
