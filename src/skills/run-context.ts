import type { ResourceSource, Skill, SkillContext, SkillResources } from "./contract.js";

/** The part of a call's context that is the same for every call of a skill in one run. */
export type SharedContext = Pick<SkillContext, "limits" | "settings" | "kv" | "calendar">;

/**
 * What the calls of one run share, by skill: the configuration's views a skill reads (its limits and settings), and
 * the resources the skill declares (`Skill.openResources`), opened at its first step in the run and given to its own
 * calls only. The runner hands configuration and database over once, here, and knows no skill's needs: a new skill
 * that keeps state declares it in its own file.
 */
export function runContexts(source: ResourceSource): (skill: Skill<unknown>) => SharedContext {
  const opened = new Map<string, SkillResources>();
  return (skill) => {
    let resources = opened.get(skill.name);
    if (resources === undefined) {
      resources = skill.openResources?.(source) ?? {};
      opened.set(skill.name, resources);
    }
    return { limits: source.config, settings: source.config, ...resources };
  };
}
