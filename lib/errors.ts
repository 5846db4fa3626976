/**
 * One base error for everything pd-router raises on purpose. `retryable` tells the queue
 * workers whether handing the message back to SQS can help; `status` is what an HTTP
 * ingress answers when the error reaches it.
 *
 * Each class spells its `name` out: the bundles are minified without esbuild's `keepNames` (a
 * tenth of their size), so a class's own name would be a mangled letter in the logs.
 */
export class PdRouterError extends Error {
  override name = 'PdRouterError';
  readonly retryable: boolean;
  readonly status: number;
  constructor(message: string, options: { retryable?: boolean; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.status = options.status ?? 500;
  }
}

/** A configuration value (environment variable) is missing or unusable. */
export class ConfigError extends PdRouterError {
  override name = 'ConfigError';
}

/** One of the five secrets is missing. The message names the key, never a value. */
export class MissingSecretError extends PdRouterError {
  override name = 'MissingSecretError';
  constructor(name: string, where: string) {
    super(`secret ${name} is missing from ${where}`);
  }
}

/** A request failed signature, timestamp or header checks. */
export class SignatureError extends PdRouterError {
  override name = 'SignatureError';
  constructor(message: string) {
    super(message, { status: 401 });
  }
}

/** A request or queue message that can never be processed, whatever we retry. */
export class InvalidInputError extends PdRouterError {
  override name = 'InvalidInputError';
  constructor(message: string, status = 400) {
    super(message, { status });
  }
}

/** An outside API failed in a way that a later attempt may fix (429, 5xx, network). */
export class TransientError extends PdRouterError {
  override name = 'TransientError';
  /** The wait the API asked for (Retry-After), when it said. */
  readonly retryAfterSeconds?: number;
  constructor(message: string, cause?: unknown, retryAfterSeconds?: number) {
    super(message, { retryable: true, status: 503, cause });
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Slack or PagerDuty answered 429: retried like any transient failure, and counted apart. */
export class RateLimitedError extends TransientError {
  override name = 'RateLimitedError';
  readonly service: 'slack' | 'pagerduty';
  constructor(service: 'slack' | 'pagerduty', message: string, cause?: unknown, retryAfterSeconds?: number) {
    super(message, cause, retryAfterSeconds);
    this.service = service;
  }
}

/**
 * Not a failure: the work must wait for its turn, a later one that pd-router's own pacing
 * (lib/store/pacer.ts) gave it under a limit many messages share, or work that must come first
 * (the confirmation that starts a thread). Handled like a rate limit (the wait is kept exactly,
 * and waiting never walks a message to the DLQ) but not counted as a refusal.
 */
export class WaitForTurnError extends TransientError {
  override name = 'WaitForTurnError';
}

/** True for a wait imposed by a limit, ours or an API's, rather than a failure. */
export function isLimitWait(error: unknown): error is TransientError {
  return error instanceof RateLimitedError || error instanceof WaitForTurnError;
}

/** An outside API refused the request for good (PagerDuty 400, Slack channel gone). */
export class PermanentError extends PdRouterError {
  override name = 'PermanentError';
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, { retryable: false, status: 502, cause });
    this.code = code;
  }
}

/*
 * The refusals a caller acts on have classes of their own, so that a branch reads `instanceof`
 * rather than comparing codes; `code` stays for the logs.
 */

/** Slack will never take a message in this channel: it is gone or archived, or the bot is not in it. `code` is Slack's error. */
export class ChannelGoneError extends PermanentError {
  override name = 'ChannelGoneError';
}

/** An update for an escalation whose confirmation, which starts its thread, was never posted: there is no thread to tell. */
export class NoThreadError extends PermanentError {
  override name = 'NoThreadError';
  constructor(message = 'the escalation never got its thread (its confirmation was not posted)') {
    super('no_thread', message);
  }
}

/** PagerDuty answered 404: the incident (or what was asked of it) is not there. */
export class PagerDutyNotFoundError extends PermanentError {
  override name = 'PagerDutyNotFoundError';
}

/** True when retrying the work later may succeed. Unknown errors count as retryable. */
export function isRetryable(error: unknown): boolean {
  return error instanceof PdRouterError ? error.retryable : true;
}
