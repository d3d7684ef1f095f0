import type pg from "pg";

/**
 * Makes the current transaction one tenant's: switches it to the role row-level security applies to, and names its
 * tenant (migration 0011's policies compare every row's tenant_id with aos.tenant_id); a read-only scope also sets
 * the transaction READ ONLY, in the same round trip. All are transaction-local (`is_local = true`, i.e. SET LOCAL),
 * so they end with the transaction's commit or rollback: nothing is left on the pooled connection for its next user,
 * and it works behind PgBouncer in transaction mode. Sent first in the transaction, so no statement of it runs
 * unscoped; if it fails, the transaction is aborted and only a rollback is accepted.
 */
export async function scopeTransaction(client: Pick<pg.ClientBase, "query">, scope: { tenantId: string; readOnly: boolean }): Promise<void> {
  if (scope.readOnly) {
    await client.query(
      `select set_config('role', 'aos_tenant', true) as role,
  set_config('aos.tenant_id', $1::text, true) as tenant_id,
  set_config('transaction_read_only', 'on', true) as read_only`,
      [scope.tenantId],
    );
    return;
  }
  await client.query(
    `select set_config('role', 'aos_tenant', true) as role,
  set_config('aos.tenant_id', $1::text, true) as tenant_id`,
    [scope.tenantId],
  );
}
