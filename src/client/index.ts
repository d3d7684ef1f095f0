// The AOS TypeScript SDK: `import { AosClient, verifyProofBundle } from "aos-platform/client"`.
export { AosClient, type AosClientOptions, type WaitOptions } from "./aos-client.js";
export { AosError, type ErrorBody } from "./aos-error.js";
export type { RunEvent, StepStarted } from "./events.js";
export type * from "./types.js";
export { type BundleVerdict, verifyProofBundle } from "./verify.js";
