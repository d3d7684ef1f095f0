import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";

describe("the API's authentication settings", () => {
  it("default to 20 failures per address, then 10 a minute, and to trusting no proxy", () => {
    expect(loadConfig({ AOS_HOME: "/tmp/aos-config-test" })).toMatchObject({ apiAuthFailureBurst: 20, apiAuthFailuresPerMinute: 10, apiTrustProxy: false });
  });

  it("trust a proxy by address or range, all hops, or none, and refuse anything else by name", () => {
    const trust = (value: string) => loadConfig({ AOS_HOME: "/tmp/aos-config-test", AOS_API_TRUST_PROXY: value }).apiTrustProxy;
    expect(trust("10.0.0.5, 10.1.0.0/16,::1,fd00::/8")).toEqual(["10.0.0.5", "10.1.0.0/16", "::1", "fd00::/8"]);
    expect([trust("true"), trust("off"), trust("")]).toEqual([true, false, false]);
    for (const bad of ["proxy.internal", "10.0.0.0/33", "10.0.0.5/", "10", "*"]) {
      expect(() => trust(`10.0.0.1,${bad}`)).toThrow(expect.objectContaining({ code: "USAGE", message: expect.stringContaining(`"${bad}"`) }));
    }
  });
});
