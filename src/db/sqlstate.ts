// The SQLSTATE codes AOS branches on. Never match on an error's message text.
export const SQLSTATE = {
  UNIQUE_VIOLATION: "23505",
  FOREIGN_KEY_VIOLATION: "23503",
  CHECK_VIOLATION: "23514",
  RAISE_EXCEPTION: "P0001",
  INVALID_PASSWORD: "28P01",
  INVALID_AUTHORIZATION: "28000",
  INVALID_CATALOG_NAME: "3D000",
  ADMIN_SHUTDOWN: "57P01",
  CANNOT_CONNECT_NOW: "57P03",
  INSUFFICIENT_PRIVILEGE: "42501",
  UNDEFINED_TABLE: "42P01",
  QUERY_CANCELED: "57014",
  READ_ONLY_SQL_TRANSACTION: "25006",
} as const;

export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
