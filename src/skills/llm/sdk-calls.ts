import type { Logger } from "../../logger.js";
import { LlmCallError } from "./provider.js";

/**
 * What the Anthropic and OpenAI providers share. Both SDKs come from the same generator, so they throw the same
 * error classes and take the same client options: failures are told apart by class and HTTP status, never by the
 * wording of a message, and the key never leaves the client, not even inside a provider's error text.
 */

/** The SDKs' own retries are off: the runner retries steps, with its backoff and the step's attempt count. */
export const SDK_MAX_RETRIES = 0;

/**
 * The most one model call may take when the step's own timeout has not stopped it first: long enough for 8192
 * output tokens at about 30 a second, since calls are not streamed.
 */
export const SDK_TIMEOUT_MS = 300_000;

const MAX_DETAIL_CHARS = 500;

export interface ProviderIdentity {
  /** How messages name the provider. */
  readonly label: string;
  /** The variable its key comes from, named when the key is missing or refused. */
  readonly keyVariable: string;
}

/** The error classes each SDK exports; passed in so one mapping serves both. */
export interface SdkErrorClasses {
  readonly APIError: abstract new (...args: never[]) => Error & { readonly status: number | undefined; readonly error: unknown };
  readonly APIConnectionError: abstract new (...args: never[]) => Error;
  readonly APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
}

/** The key, or CREDENTIALS_MISSING naming its variable, before any request is made. */
export function requireKey(key: string | undefined, who: ProviderIdentity): string {
  if (key === undefined || key === "") {
    throw new LlmCallError("CREDENTIALS_MISSING", `the ${who.label} provider needs ${who.keyVariable}; set it in the worker's environment`, false);
  }
  return key;
}

/** An SDK's failure as a catalog failure, with the provider's own explanation and the key blanked out of it. */
export function sdkFailure(error: unknown, sdk: SdkErrorClasses, who: ProviderIdentity, key: string): LlmCallError {
  if (error instanceof LlmCallError) return error;
  // The timeout class extends the connection class, so it is asked about first.
  if (error instanceof sdk.APIConnectionTimeoutError) {
    return new LlmCallError("TIMEOUT", `${who.label} did not answer within ${SDK_TIMEOUT_MS} ms`, true);
  }
  if (error instanceof sdk.APIConnectionError) {
    return new LlmCallError("NETWORK_ERROR", `could not reach ${who.label}: ${detail(error.message, key)}`, true);
  }
  if (error instanceof sdk.APIError && error.status !== undefined) {
    return statusFailure(error.status, detail(providerMessage(error.error) ?? error.message, key), who);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new LlmCallError("LLM_PROVIDER_ERROR", `the ${who.label} call failed: ${detail(message, key)}`, false);
}

function statusFailure(status: number, detail: string, who: ProviderIdentity): LlmCallError {
  if (status === 429) {
    return new LlmCallError("LLM_RATE_LIMITED", `${who.label} rate-limited the call (HTTP 429): ${detail}`, true);
  }
  if (status === 401 || status === 402 || status === 403) {
    return new LlmCallError("CREDENTIALS_REJECTED", `${who.label} refused the key in ${who.keyVariable} (HTTP ${status}): ${detail}`, false);
  }
  // 408 and 409 are the provider asking to be asked again, as its SDK's own retry rule has it.
  if (status === 408 || status === 409 || status >= 500) {
    return new LlmCallError("LLM_PROVIDER_ERROR", `${who.label} failed (HTTP ${status}): ${detail}`, true);
  }
  return new LlmCallError("LLM_REQUEST_REJECTED", `${who.label} rejected the request (HTTP ${status}): ${detail}`, false);
}

/** The explanation in an error body: Anthropic nests it as `{error: {message}}`, OpenAI's SDK hands over `{message}`. */
function providerMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const inner = "error" in body && typeof body.error === "object" && body.error !== null ? body.error : body;
  return "message" in inner && typeof inner.message === "string" ? inner.message : undefined;
}

function detail(text: string, key: string): string {
  return redact(text, key).slice(0, MAX_DETAIL_CHARS);
}

/** The text with every occurrence of the key replaced: providers echo a refused key back in their errors. */
function redact(text: string, key: string): string {
  return key === "" ? text : text.split(key).join("[redacted]");
}

type LogFn = (message: string, ...rest: unknown[]) => void;

/**
 * The SDK's log lines go to the step's logger, message only: the extra arguments carry request details, and the
 * key is blanked in case one ever quotes it.
 */
export function sdkLogger(log: Logger, key: string): { error: LogFn; warn: LogFn; info: LogFn; debug: LogFn } {
  return {
    error: (message) => log.warn(redact(message, key)),
    warn: (message) => log.warn(redact(message, key)),
    info: (message) => log.info(redact(message, key)),
    debug: (message) => log.debug(redact(message, key)),
  };
}
