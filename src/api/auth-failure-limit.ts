import ipaddr from "ipaddr.js";
import { AppError } from "../errors.js";

export interface AuthFailureLimits {
  /** Failures an address may have at once before it is refused. */
  burst: number;
  /** Failures an address earns back per minute after that. */
  perMinute: number;
  /**
   * Addresses remembered at most. Past it the address whose last failure is oldest is forgotten (and so forgiven),
   * which bounds memory when a flood comes from very many addresses.
   */
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Failed authentications per client address, as a token bucket: an address may fail `burst` times, then
 * `perMinute` times a minute. Each attempt holds a token while its key is looked up and a valid key gives it back,
 * so only failures use the bucket up and a client that authenticates is never slowed. Holding the token during the
 * lookup is what bounds a concurrent flood: however many requests are in flight, at most `burst` of them reach the
 * database. An address with no token left is refused before its key is looked up, at the cost of a map lookup.
 * A refusal takes nothing, so Retry-After says truly when the next attempt counts.
 *
 * IPv6 clients are counted per /64 (one host usually holds a whole /64); IPv4-mapped IPv6 addresses count as their
 * IPv4 address. Only addresses with failures not yet earned back are remembered. Kept in this process: several API
 * processes each allow the limit.
 */
export class AuthFailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxAddresses: number;

  constructor(
    private readonly limits: AuthFailureLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.maxAddresses = limits.maxAddresses ?? 100_000;
  }

  /**
   * Takes a token for one attempt from the address, or throws AUTH_RATE_LIMITED saying when to retry. The token is
   * kept when the attempt fails; `giveBack` returns it when the key was valid (or could not be checked).
   */
  take(address: string): void {
    const key = clientKey(address);
    const bucket = this.buckets.get(key);
    const tokens = bucket === undefined ? this.limits.burst : this.refilled(bucket);
    if (tokens < 1) {
      const retryAfterSeconds = Math.ceil(((1 - tokens) * 60) / this.limits.perMinute);
      throw new AppError("AUTH_RATE_LIMITED", `too many failed authentications from ${key}; retry after ${retryAfterSeconds} s`, {
        details: { retry_after_seconds: retryAfterSeconds, burst: this.limits.burst, limit_per_minute: this.limits.perMinute },
      });
    }
    // Re-inserted, so the map's order is the order of last attempt and the first entry is the one to forget.
    this.buckets.delete(key);
    if (this.buckets.size >= this.maxAddresses) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    this.buckets.set(key, { tokens: tokens - 1, at: this.now() });
  }

  /** Returns the token an attempt took; an address back to a full bucket is forgotten. */
  giveBack(address: string): void {
    const key = clientKey(address);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return;
    const tokens = Math.min(this.limits.burst, this.refilled(bucket) + 1);
    if (tokens >= this.limits.burst) this.buckets.delete(key);
    else this.buckets.set(key, { tokens, at: this.now() });
  }

  private refilled(bucket: Bucket): number {
    return Math.min(this.limits.burst, bucket.tokens + ((this.now() - bucket.at) * this.limits.perMinute) / 60_000);
  }
}

/** What an address is counted under: an IPv4 address, or an IPv6 /64. */
export function clientKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === "ipv4") return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}

/**
 * Hashes of keys that authenticated in the last minute. A request presenting one is not held to its address's
 * failure limit (its lookup still decides, so a revoked key is refused at once): a client sharing an address with
 * a flood (NAT, a proxy) keeps working, while a key not seen lately cannot be told from a guess without the lookup
 * the limit exists to save. Bounded: past `max` keys, the one that authenticated longest ago is forgotten.
 */
export class RecentlyValidKeys {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  has(keyHash: string): boolean {
    const until = this.until.get(keyHash);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(keyHash);
    return false;
  }

  add(keyHash: string): void {
    this.until.delete(keyHash);
    if (this.until.size >= this.max) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
    this.until.set(keyHash, this.now() + this.ttlMs);
  }

  forget(keyHash: string): void {
    this.until.delete(keyHash);
  }
}
