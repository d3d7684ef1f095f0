import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { findRun } from "../../db/queries/runs.js";
import { listStepRows } from "../../db/queries/trace-steps.js";
import { AppError } from "../../errors.js";
import { isTerminal, type Run, traceIdFor } from "../../glossary.js";
import { stepOfRow } from "../../proof/stored-trace.js";
import { stepJson } from "../../views/run.js";
import { route, type Routes } from "../route.js";
import { runParams } from "../schemas.js";

const lastEventId = z
  .string()
  .describe("The seq of the last `step` event seen: the stream resumes after it (anything but a whole number starts from the first step)");

/** A comment line every so often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

/**
 * GET /runs/{id}/events: server-sent events of a run's progress. `step` for each recorded attempt (its id is the
 * step's seq, so a client reconnecting with Last-Event-ID resumes after it), `status` when the run's status
 * changes, and `end` once the run is terminal, after which the stream closes. A parked run (pending_approval)
 * keeps its stream open until it ends. The run is polled every AOS_API_EVENTS_POLL_MS.
 */
export const eventRoutes: Routes = [
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/events",
    summary: "Server-sent events of a run's steps and status changes, until it ends",
    tag: "runs",
    auth: true,
    params: runParams,
    successStatus: 200,
    produces: "text/event-stream",
    headers: { "Last-Event-ID": lastEventId },
    errors: ["RUN_NOT_FOUND"],
    oneReadTransaction: false,
    async handler({ params, tenant, deps, request, reply }) {
      const first = await findRun(tenant.db.pool, tenant.tenantId, params.run_id);
      if (first === undefined) throw new AppError("RUN_NOT_FOUND", `Run not found: ${params.run_id}`, { details: { run_id: params.run_id } });
      // Only what this stream sends as an id (a seq, in digits) resumes it; anything else replays from the start.
      const header = request.headers["last-event-id"];
      const lastEventId = typeof header === "string" && /^(0|[1-9]\d{0,15})$/.test(header) ? Number(header) : -1;
      let afterSeq = Number.isSafeInteger(lastEventId) ? lastEventId : -1;
      const closed = new AbortController();
      request.raw.on("close", () => closed.abort());
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
      let status = "";
      let quietSince = Date.now();
      const send = (event: string, data: unknown, id?: number) => {
        out.write(`event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
        quietSince = Date.now();
      };
      const announce = (current: Run) => {
        if (current.status === status) return;
        status = current.status;
        send("status", { run_id: current.id, status, error_message: current.errorMessage });
      };
      let run: Run | undefined = first;
      try {
        while (run !== undefined && !closed.signal.aborted) {
          // A change to running is told before the steps it ran; an ending after them.
          const terminal = isTerminal(run.status);
          if (!terminal) announce(run);
          // Live progress: each row as its bytes say, not yet verified (the run's proof comes when it has ended).
          for (const step of (await listStepRows(tenant.db.pool, traceIdFor(run.id), afterSeq)).map(stepOfRow)) {
            send("step", { run_id: run.id, ...stepJson(step) }, step.seq);
            afterSeq = step.seq;
          }
          if (terminal) {
            announce(run);
            send("end", { run_id: run.id, status: run.status });
            break;
          }
          if (Date.now() - quietSince > HEARTBEAT_MS) {
            out.write(": still running\n\n");
            quietSince = Date.now();
          }
          await sleep(deps.config.apiEventsPollMs, undefined, { signal: closed.signal }).catch(() => undefined);
          run = await findRun(tenant.db.pool, tenant.tenantId, params.run_id);
        }
      } catch (error) {
        deps.log.warn("event stream ended by an error", { run_id: params.run_id, error: (error as Error).message });
        send("error", { code: "INTERNAL", message: "the event stream failed; reconnect with Last-Event-ID to resume" });
      } finally {
        out.end();
      }
      return undefined;
    },
  }),
];
