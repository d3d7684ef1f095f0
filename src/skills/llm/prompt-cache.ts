import type { LlmResponse } from "./provider.js";

export interface PromptCacheOptions {
  /** Answers kept; the least recently used goes first when full. Upstream keeps 1000. */
  readonly maxEntries?: number;
  /** How long an answer may be served, from when it was stored. Upstream keeps one for 3600 s. */
  readonly ttlMs?: number;
  /** The clock, for tests. */
  readonly now?: () => number;
}

interface Entry {
  readonly response: LlmResponse;
  readonly storedAt: number;
}

/**
 * llm_invoke's optional prompt cache: answers kept in this process, by the request's key, for steps that ask with
 * `enable_cache`. A Map iterates in insertion order, so re-inserting an entry on every hit keeps the least recently
 * used first, which is the one evicted. Nothing is shared between processes or survives a restart.
 */
export class PromptCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: PromptCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  get(key: string): LlmResponse | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (this.now() - entry.storedAt >= this.ttlMs) return undefined;
    this.entries.set(key, entry);
    return entry.response;
  }

  set(key: string, response: LlmResponse): void {
    this.entries.delete(key);
    this.entries.set(key, { response: Object.freeze({ ...response }), storedAt: this.now() });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
