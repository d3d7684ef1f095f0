// The package's library entry: the SDK (also at "aos-platform/client"). The platform itself is the `aos` CLI.
export * from "./client/index.js";
