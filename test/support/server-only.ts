/**
 * Tests that need more than PGlite (the PostgreSQL server of AOS_TEST_DATABASE_URL, or a private cluster started from
 * the server binaries) carry the `server-only` tag and, when skipped, the reason in their suite's meta: the
 * server-only reporter (test/support/skipped-reporter.ts) lists them by name at the end of the run.
 */
export const SERVER_ONLY = "server-only";

declare module "vitest" {
  interface TaskMeta {
    /** Why a server-only suite was skipped on this machine. */
    skippedBecause?: string;
  }
}

export interface ServerOnlyOptions {
  tags: string[];
  skip: boolean;
  meta: { skippedBecause?: string };
}

/** describe()/it() options for a server-only block: skipped, with the reason, when `missing` names what is missing. */
export function serverOnly(missing: string | undefined): ServerOnlyOptions {
  return { tags: [SERVER_ONLY], skip: missing !== undefined, meta: missing === undefined ? {} : { skippedBecause: missing } };
}
