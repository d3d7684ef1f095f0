/**
 * Secret redaction for what a trace stores (and therefore hashes): a step's params keep their shape, but the
 * value of any member whose name looks like a credential is replaced. The skill itself still receives the
 * real value; only the record is redacted, so secrets never reach the database, logs or proof bundles.
 */
const REDACTED = "[REDACTED]";

// Whole names, so `max_tokens` or `idempotency_key` stay readable while `Authorization` or `api_key` do not.
const SECRET_NAME =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-aos-key|api[-_]?key|secret|client[-_]?secret|password|passwd|token|access[-_]?token|refresh[-_]?token|auth[-_]?token|private[-_]?key|signing[-_]?secret|credentials?)$/i;
const SECRET_SUFFIX = /[-_](secret|password|api[-_]?key|token)$/i;

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || SECRET_SUFFIX.test(name);
}

export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item));
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = isSecretName(key) && item !== null && item !== undefined ? REDACTED : redactSecrets(item);
    }
    return out;
  }
  return value;
}
