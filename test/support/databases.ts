import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { describe, inject } from "vitest";
import type { Database } from "../../src/db/database.js";
import { embeddedDatabase, openServerDatabase } from "../../src/db/open-database.js";
import { serverOnly, type ServerOnlyOptions } from "./server-only.js";
import { serverUrlFor } from "./server-url.js";

/** A real PostgreSQL a test can use: PGlite always, and the server when AOS_TEST_DATABASE_URL is set. */
export interface TestBackend {
  name: "pglite" | "server";
  /** A fresh migrated database of its own, dropped again on close. */
  open(): Promise<TestDatabase>;
}

export interface TestDatabase extends Database {
  /** A connection URL for child processes (server only). */
  url: string | undefined;
}

let templateBlob: Blob | undefined;

async function openPglite(): Promise<TestDatabase> {
  templateBlob ??= new Blob([readFileSync(inject("pgliteTemplatePath"))]);
  const pglite = await PGlite.create({ loadDataDir: templateBlob });
  return Object.assign(embeddedDatabase(pglite, "memory"), { url: undefined });
}

async function openServer(serverUrl: string): Promise<TestDatabase> {
  const name = `aos_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `create database ${name} template ${inject("serverTemplate")}`);
  const url = serverUrlFor(serverUrl, name);
  const db = await openServerDatabase(url, 8);
  return {
    ...db,
    url,
    async close() {
      await db.close();
      await adminQuery(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function testBackends(): TestBackend[] {
  const backends: TestBackend[] = [{ name: "pglite", open: openPglite }];
  const serverUrl = process.env.AOS_TEST_DATABASE_URL;
  if (serverUrl && inject("serverTemplate") !== "") backends.push({ name: "server", open: () => openServer(serverUrl) });
  return backends;
}

export function serverBackend(): TestBackend | undefined {
  return testBackends().find((backend) => backend.name === "server");
}

/** Why the server tests cannot run here, or undefined when they can. */
export function serverMissing(): string | undefined {
  return serverBackend() === undefined ? "AOS_TEST_DATABASE_URL not set" : undefined;
}

/** describe()/it() options for tests on the server: tagged server-only, skipped with the reason when there is none. */
export function onServer(): ServerOnlyOptions {
  return serverOnly(serverMissing());
}

const NO_SERVER: TestBackend = {
  name: "server",
  open: () => Promise.reject(new Error("AOS_TEST_DATABASE_URL is not set")),
};

/**
 * The same suite on every backend, `$name` in its name standing for the backend's. Without a server, its server
 * copy is still declared, skipped and tagged server-only, so a run without one says which tests it left out.
 */
export function describeOnBackends(name: string, body: (backend: TestBackend) => void): void {
  const [pglite, server] = [testBackends()[0]!, serverBackend()];
  describe(name.replaceAll("$name", pglite.name), () => body(pglite));
  describe(name.replaceAll("$name", "server"), onServer(), () => body(server ?? NO_SERVER));
}
