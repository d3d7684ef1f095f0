import { isSettled, isTerminal } from "../glossary.js";
import { AosError, type ErrorBody } from "./aos-error.js";
import { parseEvents, type RunEvent } from "./events.js";
import type {
  AcceptedRun,
  ActorOptions,
  Agent,
  AgentChanges,
  AgentInput,
  CancelOutcome,
  Capabilities,
  CreateRunInput,
  Evidence,
  Health,
  Incident,
  ProofBundle,
  QueryAnswer,
  QueryParams,
  QueryType,
  Readiness,
  Run,
  RunProof,
  RunStatus,
  RunSummary,
  SimulateOptions,
  SimulationReport,
  SkillContract,
  SkillSummary,
  Step,
  VerificationKeys,
} from "./types.js";

export interface AosClientOptions {
  /** e.g. http://127.0.0.1:8000; default AOS_URL or http://127.0.0.1:8000. */
  baseUrl?: string;
  /** A tenant's API key (`aos api-keys create`); default AOS_API_KEY. */
  apiKey?: string;
  /** Per request, in ms (not for event streams); default 30000. */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Give up after this long (ms); default 60000. */
  timeoutMs?: number;
  /** Between polls (ms); default 500. */
  intervalMs?: number;
  /** Return a run parked for approval (pending_approval) instead of waiting for a person; default true. */
  returnWhenParked?: boolean;
}

/**
 * A typed client for the AOS HTTP API (/api/v1). Method names follow upstream's SDK where it had them (simulate,
 * query, getCapabilities, describeSkill, createAgent, postGoal, pollRun, createRun, getRun). Every failure is an
 * AosError carrying the API's error envelope (code, category, retryable, details) and the HTTP status.
 */
export class AosClient {
  private readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: AosClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? process.env.AOS_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
    this.apiKey = options.apiKey ?? process.env.AOS_API_KEY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  // Agents

  createAgent(input: AgentInput): Promise<Agent> {
    return this.request("POST", "/api/v1/agents", input);
  }

  listAgents(): Promise<Agent[]> {
    return this.request("GET", "/api/v1/agents");
  }

  /** The agent, by id or by name (a UUID is always an id). */
  getAgent(agentId: string): Promise<Agent> {
    return this.request("GET", `/api/v1/agents/${encodeURIComponent(agentId)}`);
  }

  /** Changes the agent's name, budget (null removes it), concurrent runs limit or allowed hosts; the rest stays. */
  updateAgent(agentId: string, changes: AgentChanges): Promise<Agent> {
    return this.request("PATCH", `/api/v1/agents/${encodeURIComponent(agentId)}`, changes);
  }

  /** Gives the agent a goal; the planner plans it and the run is queued. `actor_id` is required with actor_type HUMAN. */
  postGoal(agentId: string, goal: string, options: ActorOptions & { idempotencyKey?: string } = {}): Promise<AcceptedRun> {
    const { idempotencyKey, ...actor } = options;
    return this.request("POST", `/api/v1/agents/${encodeURIComponent(agentId)}/goals`, { goal, ...actor }, idempotencyKey);
  }

  // Runs

  createRun(input: CreateRunInput, options: { idempotencyKey?: string } = {}): Promise<AcceptedRun> {
    return this.request("POST", "/api/v1/runs", input, options.idempotencyKey);
  }

  getRun(runId: string): Promise<Run> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}`);
  }

  listRuns(options: { status?: RunStatus; limit?: number } = {}): Promise<RunSummary[]> {
    return this.request("GET", `/api/v1/runs${queryString(options)}`);
  }

  getSteps(runId: string): Promise<Step[]> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}/steps`);
  }

  cancelRun(runId: string): Promise<CancelOutcome> {
    return this.request("POST", `/api/v1/runs/${encodeURIComponent(runId)}/cancel`);
  }

  approveRun(runId: string, by: string): Promise<AcceptedRun> {
    return this.request("POST", `/api/v1/runs/${encodeURIComponent(runId)}/approve`, { by });
  }

  rejectRun(runId: string, by: string): Promise<AcceptedRun> {
    return this.request("POST", `/api/v1/runs/${encodeURIComponent(runId)}/reject`, { by });
  }

  /**
   * Polls until the run ends: any terminal status (succeeded, failed, halted, cancelled), or pending_approval
   * unless `returnWhenParked: false`. Throws AosError TIMEOUT after `timeoutMs`.
   */
  async waitForRun(runId: string, options: WaitOptions = {}): Promise<Run> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const parkedEnds = options.returnWhenParked ?? true;
    for (;;) {
      const run = await this.getRun(runId);
      if (parkedEnds ? isSettled(run.status) : isTerminal(run.status)) return run;
      if (Date.now() >= deadline) {
        throw new AosError(0, { code: "TIMEOUT", message: `run ${runId} is still ${run.status}`, category: "TRANSIENT", retryable: true, details: { run_id: runId } });
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
    }
  }

  /** Upstream's name for waitForRun. */
  pollRun(runId: string, options: WaitOptions = {}): Promise<Run> {
    return this.waitForRun(runId, options);
  }

  /**
   * The run's live events (server-sent): `step` for each recorded attempt, `status` on each change, and `end`,
   * after which the iteration finishes. Pass `afterSeq` to resume after a step already seen.
   */
  async *events(runId: string, options: { signal?: AbortSignal; afterSeq?: number } = {}): AsyncGenerator<RunEvent> {
    const headers: Record<string, string> = { accept: "text/event-stream", ...this.authHeaders() };
    if (options.afterSeq !== undefined) headers["last-event-id"] = String(options.afterSeq);
    const response = await fetch(`${this.baseUrl}/api/v1/runs/${encodeURIComponent(runId)}/events`, {
      headers,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (!response.ok || response.body === null) throw await errorOf(response);
    yield* parseEvents(response.body);
  }

  // Proofs and records

  getProof(runId: string): Promise<RunProof> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}/proof`);
  }

  /** The run's proof bundle, to verify offline with `verifyProofBundle` (or `aos verify`). */
  getProofBundle(runId: string): Promise<ProofBundle> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}/proof/bundle`);
  }

  /** A C2SP tlog-proof (text) that step `seq` is in the run's signed trace. */
  getInclusionProof(runId: string, seq: number): Promise<string> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}/steps/${seq}/inclusion-proof`, undefined, undefined, "text");
  }

  getEvidence(runId: string): Promise<Evidence> {
    return this.request("GET", `/api/v1/runs/${encodeURIComponent(runId)}/evidence`);
  }

  listIncidents(options: { runId?: string; limit?: number } = {}): Promise<Incident[]> {
    return this.request("GET", `/api/v1/incidents${queryString({ run_id: options.runId, limit: options.limit })}`);
  }

  /** The server's verification keys; pin your own copy rather than trusting these at verification time. */
  getKeys(): Promise<VerificationKeys> {
    return this.request("GET", "/api/v1/keys");
  }

  // Runtime

  simulate(plan: { steps: unknown[] }, options: SimulateOptions = {}): Promise<SimulationReport> {
    return this.request("POST", "/api/v1/runtime/simulate", { plan, ...options });
  }

  query(queryType: QueryType, params: QueryParams = {}): Promise<QueryAnswer> {
    return this.request("POST", "/api/v1/runtime/query", { query_type: queryType, params });
  }

  getCapabilities(options: { agentId?: string } = {}): Promise<Capabilities> {
    return this.request("GET", `/api/v1/runtime/capabilities${queryString({ agent_id: options.agentId })}`);
  }

  listSkills(): Promise<SkillSummary[]> {
    return this.request("GET", "/api/v1/runtime/skills");
  }

  describeSkill(skillId: string): Promise<SkillContract> {
    return this.request("GET", `/api/v1/runtime/skills/${encodeURIComponent(skillId)}`);
  }

  health(): Promise<Health> {
    return this.request("GET", "/healthz");
  }

  /** Whether the server's database answers; DATABASE_UNAVAILABLE (503) when it does not. */
  readyz(): Promise<Readiness> {
    return this.request("GET", "/readyz");
  }

  /** The Prometheus metrics, as text (docs/api.md, "Metrics"). */
  metrics(): Promise<string> {
    return this.request("GET", "/metrics", undefined, undefined, "text");
  }

  private authHeaders(): Record<string, string> {
    return this.apiKey === undefined ? {} : { authorization: `Bearer ${this.apiKey}` };
  }

  private async request<T>(method: "GET" | "POST" | "PATCH", path: string, body?: unknown, idempotencyKey?: string, as: "json" | "text" = "json"): Promise<T> {
    const headers: Record<string, string> = { ...this.authHeaders() };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === "TimeoutError";
      throw new AosError(0, {
        code: timedOut ? "TIMEOUT" : "NETWORK_ERROR",
        message: timedOut ? `${method} ${path} took longer than ${this.timeoutMs} ms` : `${method} ${this.baseUrl}${path} failed: ${(error as Error).message}`,
        category: "TRANSIENT",
        retryable: true,
        details: {},
      });
    }
    if (!response.ok) throw await errorOf(response);
    return (as === "text" ? await response.text() : await response.json()) as T;
  }
}

async function errorOf(response: Response): Promise<AosError> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as { error?: ErrorBody };
    if (parsed.error !== undefined) return new AosError(response.status, parsed.error);
  } catch {
    // not the envelope: a proxy's page, say
  }
  return new AosError(response.status, {
    code: "HTTP_ERROR",
    message: `HTTP ${response.status}: ${text.slice(0, 200)}`,
    category: response.status >= 500 ? "TRANSIENT" : "PERMANENT",
    retryable: response.status >= 500,
    details: {},
  });
}

function queryString(values: Record<string, string | number | undefined>): string {
  const entries = Object.entries(values).filter((entry): entry is [string, string | number] => entry[1] !== undefined);
  return entries.length === 0 ? "" : `?${new URLSearchParams(entries.map(([key, value]): [string, string] => [key, String(value)])).toString()}`;
}
