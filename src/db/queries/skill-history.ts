import type { Queryable } from "../database.js";

/** How a skill's recorded attempts went for one tenant over a window: what simulate and capabilities report. */
export interface SkillHistory {
  skill: string;
  /** Attempts that ran (succeeded or failed); blocked, started and interrupted rows are not attempts that ran. */
  attempts: number;
  failures: number;
  /** Failed attempts by outcome code, most frequent first. */
  failuresByCode: { code: string; count: number }[];
  /** Median wall time of the attempts that ran, in ms; null without any. */
  p50DurationMs: number | null;
}

interface HistoryRow {
  skill_name: string;
  /** Null on the per-skill row of the grouping sets; the per-code rows carry a code. */
  outcome_code: string | null;
  failed: boolean | null;
  n: number;
  p50: number | null;
}

/**
 * The tenant's history per skill over the last `days` days, from the recorded trace steps: one row per skill
 * (attempts and the exact median duration) and one per skill and outcome, in one pass (grouping sets). Read
 * through the tenant's traces (aos_traces_tenant_idx), so another tenant's steps are never counted.
 */
/** The window simulate and capabilities look back over. */
const SKILL_HISTORY_DAYS = 30;

export async function skillHistory(
  db: Queryable,
  tenantId: string,
  skills: readonly string[],
  days = SKILL_HISTORY_DAYS,
): Promise<Map<string, SkillHistory>> {
  const { rows } = await db.query<HistoryRow>(
    `select s.skill_name, s.outcome_code, s.status = 'failed' as failed, count(*)::int as n,
  percentile_cont(0.5) within group (order by s.duration_ms) as p50
from aos_traces t
join aos_trace_steps s on s.trace_id = t.trace_id
where t.tenant_id = $1::text
  and s.skill_name = any($2::text[])
  and s.status in ('succeeded', 'failed')
  and s.started_at > now() - make_interval(days => $3::int)
group by grouping sets ((s.skill_name), (s.skill_name, s.outcome_code, s.status = 'failed'))`,
    [tenantId, [...skills], days],
  );
  const bySkill = new Map<string, SkillHistory>();
  const historyOf = (skill: string): SkillHistory => {
    const existing = bySkill.get(skill);
    if (existing !== undefined) return existing;
    const created: SkillHistory = { skill, attempts: 0, failures: 0, failuresByCode: [], p50DurationMs: null };
    bySkill.set(skill, created);
    return created;
  };
  for (const row of rows) {
    const history = historyOf(row.skill_name);
    if (row.outcome_code === null) {
      history.attempts = row.n;
      history.p50DurationMs = row.p50 === null ? null : Math.round(Number(row.p50));
    } else if (row.failed === true) {
      history.failures += row.n;
      history.failuresByCode.push({ code: row.outcome_code, count: row.n });
    }
  }
  for (const history of bySkill.values()) history.failuresByCode.sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  return bySkill;
}
