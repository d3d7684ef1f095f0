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

export async function tenantExists(db: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>(
    `select exists (select 1 from tenants where id = $1::text) as found`,
    [tenantId],
  );
  return rows[0]?.found === true;
}

/** Every tenant's id, in order: what an operator is shown when a tenant they named does not exist. */
export async function listTenantIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id
from tenants
order by id`,
  );
  return rows.map((row) => row.id);
}
