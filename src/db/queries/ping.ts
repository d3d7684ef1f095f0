import type { Queryable } from "../database.js";

/** A statement that reads nothing, to learn that the database answers (the API's readiness check); throws when not. */
export async function pingDatabase(db: Queryable): Promise<void> {
  await db.query("select 1");
}
