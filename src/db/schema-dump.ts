import type { Queryable } from "./database.js";

/**
 * A stable text description of the migrated schema (tables, columns, constraints, indexes, triggers, functions),
 * for the committed snapshot that CI compares against. Ordering is explicit so the text only changes when the
 * schema does.
 */
export async function dumpSchema(db: Queryable): Promise<string> {
  const sections: string[] = [];
  const columns = await db.query<{ line: string }>(`
select table_name || '.' || column_name || ' ' || data_type
  || coalesce('(' || character_maximum_length || ')', '')
  || case when is_nullable = 'NO' then ' not null' else '' end
  || coalesce(' default ' || column_default, '') as line
from information_schema.columns
where table_schema = 'public'
order by table_name, ordinal_position`);
  sections.push("-- columns", ...columns.rows.map((row) => row.line));
  const constraints = await db.query<{ line: string }>(`
select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) as line
-- PostgreSQL 18 lists NOT NULL as constraints too; the columns section already shows them.
from pg_constraint
where connamespace = 'public'::regnamespace and contype <> 'n'
order by conrelid::regclass::text, conname`);
  sections.push("-- constraints", ...constraints.rows.map((row) => row.line));
  const indexes = await db.query<{ line: string }>(`
select indexdef as line
from pg_indexes
where schemaname = 'public'
order by tablename, indexname`);
  sections.push("-- indexes", ...indexes.rows.map((row) => row.line));
  const triggers = await db.query<{ line: string }>(`
select pg_get_triggerdef(oid) as line
from pg_trigger
where not tgisinternal and tgrelid in (select oid from pg_class where relnamespace = 'public'::regnamespace)
order by tgrelid::regclass::text, tgname`);
  sections.push("-- triggers", ...triggers.rows.map((row) => row.line));
  const functions = await db.query<{ line: string }>(`
select proname || ' ' || md5(prosrc) as line
from pg_proc
where pronamespace = 'public'::regnamespace
order by proname`);
  sections.push("-- functions", ...functions.rows.map((row) => row.line));
  // Tenant isolation lives in these two (migration 0011): a dropped policy or grant must show up as drift too.
  const policies = await db.query<{ line: string }>(`
select tablename || ' ' || policyname || ' ' || cmd || ' to ' || array_to_string(roles, ',')
  || ' using ' || regexp_replace(coalesce(qual, '-'), '\\s+', ' ', 'g')
  || ' with check ' || regexp_replace(coalesce(with_check, '-'), '\\s+', ' ', 'g') as line
from pg_policies
where schemaname = 'public'
order by tablename, policyname`);
  const rlsTables = await db.query<{ line: string }>(`
select relname || case when relforcerowsecurity then ' rls forced' else ' rls enabled' end as line
from pg_class
where relnamespace = 'public'::regnamespace and relrowsecurity
order by relname`);
  sections.push("-- row level security", ...rlsTables.rows.map((row) => row.line), ...policies.rows.map((row) => row.line));
  const grants = await db.query<{ line: string }>(`
select c.relname || ' ' || case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end || ' '
  || string_agg(a.privilege_type, ',' order by a.privilege_type) as line
from pg_class c
cross join lateral aclexplode(c.relacl) a
where c.relnamespace = 'public'::regnamespace and a.grantee <> c.relowner
group by c.relname, a.grantee
order by line`);
  sections.push("-- grants", ...grants.rows.map((row) => row.line));
  return `${sections.join("\n")}\n`;
}
