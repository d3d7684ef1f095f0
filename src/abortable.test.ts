import { describe, expect, it } from "vitest";
import { abortableDelay, untilAborted } from "./abortable.js";

describe("untilAborted", () => {
  it("settles with the work when the signal does not abort, or when there is no signal", async () => {
    await expect(untilAborted(Promise.resolve(1), new AbortController().signal)).resolves.toBe(1);
    await expect(untilAborted(Promise.reject(new Error("no")), new AbortController().signal)).rejects.toThrow("no");
    await expect(untilAborted(Promise.resolve(2), undefined)).resolves.toBe(2);
  });

  it("rejects with the signal's reason as soon as it aborts, and ignores the work's later failure", async () => {
    const controller = new AbortController();
    let fail = (_: Error): void => undefined;
    const work = new Promise<never>((_, reject) => {
      fail = reject;
    });
    const waiting = untilAborted(work, controller.signal);
    const reason = new Error("stopped");
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    fail(new Error("too late")); // would be an unhandled rejection if nobody caught it
  });

  it("rejects at once when the signal has already aborted", async () => {
    const reason = new Error("before");
    await expect(untilAborted(new Promise(() => undefined), AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});

describe("abortableDelay", () => {
  it("resolves true when it runs its course", async () => {
    expect(await abortableDelay(5)).toBe(true);
    expect(await abortableDelay(5, new AbortController().signal)).toBe(true);
  });

  it("resolves false as soon as the signal aborts, long before the delay", async () => {
    const controller = new AbortController();
    const waiting = abortableDelay(10 * 60_000, controller.signal);
    setTimeout(() => controller.abort(), 5);
    expect(await waiting).toBe(false);
    expect(await abortableDelay(10 * 60_000, AbortSignal.abort())).toBe(false);
  });
});
