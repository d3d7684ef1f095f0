-- 0014: an agent can be named by its name as well as its id (`aos run --agent-id billing-bot`), so a name is unique
-- within its tenant. Before this migration duplicates were accepted silently; a database that holds some keeps
-- every agent and its id, and renames the later ones so that none is lost and each name means one agent:
--   * within a tenant, the default agent, then the oldest (created_at, then id), keeps a name; each other agent of
--     that name becomes "<name> (<id>)";
--   * "default" names the tenant's default agent (created on first use), so an agent of that name that is not the
--     default one becomes "default (<id>)" too, even when no default agent exists yet.
-- The renames are listed by `aos list-agents`; runs, policies and proofs refer to agents by id and are unchanged.
with ranked as (
  select id, name, is_default,
    row_number() over (partition by tenant_id, name order by is_default desc, created_at, id) as rank
  from agents
)
update agents a
set name = a.name || ' (' || a.id || ')', updated_at = now()
from ranked r
where r.id = a.id and (r.rank > 1 or (r.name = 'default' and not r.is_default));

create unique index agents_name_per_tenant on agents (tenant_id, name);
