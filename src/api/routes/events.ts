import { z } from "zod";
import { followRun } from "../../services/run-events.js";
import { runEventJson } from "../../views/run-events.js";
import { route, type Routes } from "../route.js";
import { runParams } from "../schemas.js";

const lastEventId = z
  .string()
  .describe("The seq of the last `step` event seen: the stream resumes after it (anything but a whole number starts from the first step)");

/** A comment line every so often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

/**
 * GET /runs/{id}/events: server-sent events of a run's progress, as src/services/run-events.ts follows it from the
 * database. `step_started` when an attempt begins executing, `step` for each recorded row (its id is the step's seq,
 * so a client reconnecting with Last-Event-ID resumes after it), `status` when the run's status changes, and `end`
 * once the run is terminal, after which the stream closes. A parked run (pending_approval) keeps its stream open until
 * it ends. The run is polled every AOS_API_EVENTS_POLL_MS.
 */
export const eventRoutes: Routes = [
  route({
    method: "GET",
    url: "/api/v1/runs/:run_id/events",
    summary: "Server-sent events of a run's steps and status changes, until it ends",
    description: [
      "Each event's data is one JSON object with the run's `run_id`:",
      "- `status` (`status`, `error_message`): the run's status changed.",
      "- `step_started` (`step_index`, `step_id`, `skill`, `attempt`, `decision` {action, reason, policy_id, policy_hash}, `started_at`):",
      "  an attempt the policy engine allowed began executing; sent once per attempt, before its `step` rows",
      "  (a reconnect may repeat the one in flight).",
      "- `step` (id: the row's seq; the fields of GET /runs/{id}/steps): a trace row was recorded, the outcome of an attempt,",
      "  or the intent (`status: started`) of a call that leaves the process.",
      "- `end` (`status`): the run is terminal; the stream closes.",
      "- `error` (`code`, `message`): the stream failed after it started; reconnect with Last-Event-ID.",
    ].join("\n"),
    tag: "runs",
    auth: true,
    params: runParams,
    successStatus: 200,
    produces: "text/event-stream",
    headers: { "Last-Event-ID": lastEventId },
    errors: ["RUN_NOT_FOUND"],
    oneReadTransaction: false,
    async handler({ params, tenant, deps, request, reply }) {
      // Only what this stream sends as an id (a seq, in digits) resumes it; anything else replays from the start.
      const header = request.headers["last-event-id"];
      const lastEventId = typeof header === "string" && /^(0|[1-9]\d{0,15})$/.test(header) ? Number(header) : -1;
      const closed = new AbortController();
      const events = await followRun(tenant.db.pool, tenant.tenantId, params.run_id, {
        pollMs: deps.config.apiEventsPollMs,
        afterSeq: Number.isSafeInteger(lastEventId) ? lastEventId : -1,
        stop: closed.signal,
      });
      request.raw.on("close", () => closed.abort());
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
      let quietSince = Date.now();
      const send = (event: string, data: unknown, id?: number) => {
        out.write(`event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
        quietSince = Date.now();
      };
      const heartbeat = setInterval(() => {
        if (Date.now() - quietSince < HEARTBEAT_MS) return;
        out.write(": still running\n\n");
        quietSince = Date.now();
      }, HEARTBEAT_MS / 3);
      try {
        for await (const event of events) {
          if (closed.signal.aborted) break;
          const { event: name, id, data } = runEventJson(params.run_id, event);
          send(name, data, id);
        }
      } catch (error) {
        deps.log.warn("event stream ended by an error", { run_id: params.run_id, error: (error as Error).message });
        send("error", { code: "INTERNAL", message: "the event stream failed; reconnect with Last-Event-ID to resume" });
      } finally {
        clearInterval(heartbeat);
        out.end();
      }
      return undefined;
    },
  }),
];
