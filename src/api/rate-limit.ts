import { AppError } from "../errors.js";

/**
 * Requests per minute per tenant, as a token bucket: a tenant may burst up to a minute's allowance, then is held
 * to the rate. Kept in this process: several API processes each allow the rate (say so when scaling out).
 */
export class TenantRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request's token for the tenant, or throws TENANT_RATE_LIMITED saying when to retry. */
  take(tenantId: string): void {
    const now = this.now();
    const bucket = this.buckets.get(tenantId) ?? { tokens: this.perMinute, at: now };
    const refilled = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000);
    if (refilled < 1) {
      const retryAfterSeconds = Math.ceil(((1 - refilled) * 60) / this.perMinute);
      this.buckets.set(tenantId, { tokens: refilled, at: now });
      throw new AppError("TENANT_RATE_LIMITED", `tenant ${tenantId} is over its ${this.perMinute} requests per minute`, {
        details: { retry_after_seconds: retryAfterSeconds, limit_per_minute: this.perMinute },
      });
    }
    this.buckets.set(tenantId, { tokens: refilled - 1, at: now });
  }
}
