/** One problem with an input (a plan, a policy document, a request), in the zod-like shape every validator here reports. */
export interface InputIssue {
  code: string;
  /** Where in the input: e.g. "steps[1].params.url". */
  path: string;
  message: string;
}

export function formatPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((segment, index) =>
      typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`,
    )
    .join("");
}

export function formatIssues(issues: readonly InputIssue[]): string {
  return issues.map((issue) => `${issue.path ? `${issue.path}: ` : ""}${issue.message} (${issue.code})`).join("; ");
}
