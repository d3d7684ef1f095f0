import { describe, expect, it } from "vitest";
import { AuthFailureLimiter, clientKey, RecentlyValidKeys } from "./auth-failure-limit.js";

function clock() {
  const state = { now: 1_000_000 };
  return { state, now: () => state.now };
}

describe("AuthFailureLimiter", () => {
  it("allows the burst, then refuses saying when the next attempt counts, and is right about it", () => {
    const time = clock();
    const limiter = new AuthFailureLimiter({ burst: 3, perMinute: 6 }, time.now);
    for (let i = 0; i < 3; i++) limiter.take("192.0.2.1");
    expect(() => limiter.take("192.0.2.1")).toThrow(expect.objectContaining({ code: "AUTH_RATE_LIMITED", httpStatus: 429, details: expect.objectContaining({ retry_after_seconds: 10 }) }));
    time.state.now += 9_900;
    expect(() => limiter.take("192.0.2.1")).toThrow(expect.objectContaining({ details: expect.objectContaining({ retry_after_seconds: 1 }) }));
    time.state.now += 100;
    limiter.take("192.0.2.1");
    expect(() => limiter.take("192.0.2.1")).toThrow(expect.objectContaining({ code: "AUTH_RATE_LIMITED" }));
    // Refusals took nothing: a minute later the address has 3 failures again, no more.
    time.state.now += 60_000;
    for (let i = 0; i < 3; i++) limiter.take("192.0.2.1");
    expect(() => limiter.take("192.0.2.1")).toThrow();
  });

  it("gives a token back for a valid key, and keeps addresses apart", () => {
    const limiter = new AuthFailureLimiter({ burst: 2, perMinute: 1 }, clock().now);
    for (let i = 0; i < 50; i++) {
      limiter.take("192.0.2.1");
      limiter.giveBack("192.0.2.1");
    }
    limiter.take("192.0.2.1");
    limiter.take("192.0.2.1");
    expect(() => limiter.take("192.0.2.1")).toThrow();
    limiter.take("192.0.2.2");
  });

  it("counts an IPv6 /64 as one client and a mapped IPv4 address as itself", () => {
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8:1:2:bbbb::9")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(clientKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
    const limiter = new AuthFailureLimiter({ burst: 1, perMinute: 1 }, clock().now);
    limiter.take("2001:db8:1:2::1");
    expect(() => limiter.take("2001:db8:1:2::ffff")).toThrow();
    limiter.take("2001:db8:1:3::1");
    limiter.take("::ffff:203.0.113.9");
    expect(() => limiter.take("203.0.113.9")).toThrow();
  });

  it("remembers at most maxAddresses, forgetting the one whose last attempt is oldest", () => {
    const limiter = new AuthFailureLimiter({ burst: 1, perMinute: 1, maxAddresses: 2 }, clock().now);
    limiter.take("192.0.2.1");
    limiter.take("192.0.2.2");
    limiter.take("192.0.2.3");
    limiter.take("192.0.2.1");
    expect(() => limiter.take("192.0.2.3")).toThrow();
  });
});

describe("RecentlyValidKeys", () => {
  it("remembers a key for its time, forgets it on demand, and holds at most max", () => {
    const time = clock();
    const keys = new RecentlyValidKeys(60_000, 2, time.now);
    keys.add("a");
    expect(keys.has("a")).toBe(true);
    time.state.now += 60_000;
    expect(keys.has("a")).toBe(false);
    keys.add("a");
    keys.forget("a");
    expect(keys.has("a")).toBe(false);
    keys.add("a");
    keys.add("b");
    keys.add("c");
    expect([keys.has("a"), keys.has("b"), keys.has("c")]).toEqual([false, true, true]);
  });
});
