import type { RunStatus, Step } from "./types.js";

/** An attempt the policy engine allowed began executing: told once per attempt, before its `step` rows. */
export interface StepStarted {
  run_id: string;
  step_index: number;
  step_id: string;
  skill: string;
  attempt: number;
  decision: { action: "allow" | "deny" | "require_approval"; reason: string; policy_id: string; policy_hash: string } | null;
  /** ISO 8601, UTC */
  started_at: string;
}

/** One server-sent event of a run's stream. */
export type RunEvent =
  | { event: "step_started"; data: StepStarted }
  | { event: "step"; id: number; data: Step & { run_id: string } }
  | { event: "status"; data: { run_id: string; status: RunStatus; error_message: string | null } }
  | { event: "end"; data: { run_id: string; status: RunStatus } }
  | { event: "error"; data: { code: string; message: string } };

/** Parses a text/event-stream body (`event:`, `id:`, `data:` lines, blank-line separated; `:` comments skipped). */
export async function* parseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<RunEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let boundary = buffer.indexOf("\n\n");
    while (boundary !== -1) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const event = parseBlock(block);
      if (event !== undefined) {
        yield event;
        if (event.event === "end") return;
      }
      boundary = buffer.indexOf("\n\n");
    }
  }
}

function parseBlock(block: string): RunEvent | undefined {
  let name = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":") || line === "") continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return undefined;
  const parsed = JSON.parse(data.join("\n")) as never;
  return (name === "step" ? { event: name, id: Number(id), data: parsed } : { event: name, data: parsed }) as RunEvent;
}
