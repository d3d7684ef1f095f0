import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // Removes each test file's temporary directories (test/support/temp-dirs.ts) after its last hook.
    setupFiles: ["test/support/remove-temp-dirs.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: PGlite instances are CPU-heavy, and the server tests share one PostgreSQL.
    maxWorkers: 2,
    tags: [{ name: "server-only", description: "needs the PostgreSQL server (AOS_TEST_DATABASE_URL) or a private cluster started from its binaries" }],
    // The second lists the server-only tests a run skipped, and fails the run when CI=true.
    reporters: ["default", "./test/support/skipped-reporter.ts"],
  },
});
