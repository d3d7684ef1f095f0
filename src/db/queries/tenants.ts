import type { Queryable } from "../database.js";

/** Tenants come into being on first use: `aos run --tenant-id acme` needs no separate sign-up step. */
export async function ensureTenant(db: Queryable, tenantId: string): Promise<void> {
  await db.query(
    `insert into tenants (id, name)
values ($1::text, $1::text)
on conflict (id) do nothing`,
    [tenantId],
  );
}
