import type { ServerResponse } from "node:http";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./http-server.js";

export type FakeApiKind = "anthropic" | "openai";

/** How the fake answers one request: a model's text with its usage, or an HTTP error of the provider's kind. */
export type FakeAnswer = { text: string; inputTokens: number; outputTokens: number } | { status: number; type: string };

/**
 * A fake Anthropic Messages API or OpenAI Chat Completions API on loopback, answering from a script: each request
 * takes the next answer, and a request with none left gets a 500 that no test expects. Every request is recorded
 * with its parsed body, so a test can read exactly what was sent (the manifest, the repair request).
 */
export interface FakeModelApi {
  /** What to set as ANTHROPIC_BASE_URL or OPENAI_BASE_URL (OpenAI's includes the /v1 path). */
  baseUrl: string;
  requests: LoopbackServer["requests"];
  /** The bodies of the requests, parsed. */
  bodies(): Record<string, unknown>[];
  /** Replaces the script and forgets earlier requests. */
  script(...answers: FakeAnswer[]): void;
  close(): Promise<void>;
}

export async function startFakeModelApi(kind: FakeApiKind): Promise<FakeModelApi> {
  let answers: FakeAnswer[] = [];
  const server = await startLoopbackServer((_request, response) => {
    const answer = answers.shift() ?? { status: 500, type: "api_error" };
    if ("status" in answer) errorResponse(kind, response, answer.status, answer.type);
    else sendJson(response, 200, kind === "anthropic" ? anthropicMessage(answer) : openaiCompletion(answer));
  });
  return {
    baseUrl: kind === "anthropic" ? server.url : `${server.url}/v1`,
    requests: server.requests,
    bodies: () => server.requests.map((request) => JSON.parse(request.body) as Record<string, unknown>),
    script(...next) {
      answers = next;
      server.requests.length = 0;
    },
    close: () => server.close(),
  };
}

type Answered = Extract<FakeAnswer, { text: string }>;

function anthropicMessage(answer: Answered) {
  return {
    id: "msg_01",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-20250514",
    content: [{ type: "text", text: answer.text }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens },
  };
}

function openaiCompletion(answer: Answered) {
  return {
    id: "chatcmpl-01",
    object: "chat.completion",
    created: 1_790_000_000,
    model: "gpt-4o-2024-08-06",
    choices: [{ index: 0, message: { role: "assistant", content: answer.text, refusal: null }, finish_reason: "stop" }],
    usage: { prompt_tokens: answer.inputTokens, completion_tokens: answer.outputTokens, total_tokens: answer.inputTokens + answer.outputTokens },
  };
}

/** The provider's error body. It quotes the request's key back, as a careless proxy might, to prove it is redacted. */
function errorResponse(kind: FakeApiKind, response: ServerResponse, status: number, type: string): void {
  const key = String(response.req.headers["x-api-key"] ?? response.req.headers.authorization ?? "").replace(/^Bearer /, "");
  if (kind === "anthropic") sendJson(response, status, { type: "error", error: { type, message: `${type} for key ${key}` } });
  else sendJson(response, status, { error: { message: `${type}: key ${key}`, type, param: null, code: type } });
}
