import { AppError } from "../errors.js";
import type { CliContext } from "./context.js";

/** What a command executing a run in this process is told by Ctrl-C (SIGINT) and SIGTERM. */
export interface Interrupt {
  /** Aborted by the first signal: hand the run back between steps (or during a step-retry backoff), as a stopping worker does. */
  stop: AbortSignal;
  /** Aborted by a second signal: the step in flight is stopped now and the run handed back at once. */
  signal: AbortSignal;
  interrupted: () => boolean;
}

/**
 * Runs `work` with Ctrl-C meaning "hand the run back", never "strand it": the first SIGINT or SIGTERM lets the step
 * in flight finish and then hands the run back to the queue (queued, its attempt given back), the way `aos worker`
 * stops; a second one stops the step now (its intent row stays, so whoever resumes the run records the attempt
 * interrupted) and hands the run back at once. Each says so on stderr.
 */
export async function withInterrupt<T>(ctx: CliContext, runId: string, work: (interrupt: Interrupt) => Promise<T>): Promise<T> {
  let signals = 0;
  const stop = new AbortController();
  const now = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      ctx.output.err(`${name}: finishing the step in flight, then handing run ${runId} back to the queue (again to stop the step now)`);
      stop.abort();
    } else if (!now.signal.aborted) {
      ctx.output.err(`${name}: stopping the step in flight and handing run ${runId} back to the queue now`);
      now.abort(new AppError("INTERRUPTED", `run ${runId} was stopped by ${name} during a step; it is handed back to the queue`));
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work({ stop: stop.signal, signal: now.signal, interrupted: () => signals > 0 });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * Runs `work` with Ctrl-C (SIGINT) or SIGTERM meaning "stop watching": `stop` is aborted and the work ends on its
 * own; the run being watched goes on. Says whether a signal came.
 */
export async function withWatchInterrupt<T>(work: (stop: AbortSignal) => Promise<T>): Promise<{ result: T; interrupted: boolean }> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await work(stop.signal);
    return { result, interrupted: stop.signal.aborted };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
