import type { MetricEmitter, MetricName } from './metrics';
import { PdRouterError } from '../errors';
import { mappedStack } from './stack-trace';

/** Fields that every line of one request carries, so one grep follows an event end to end. */
export interface LogContext {
  eventId?: string;
  channel?: string;
  incidentId?: string;
  [key: string]: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines also carry `context`. */
  child(context: LogContext): Logger;
  /**
   * A count that alarms and dashboards can use (a CloudWatch EMF line, through the logger's
   * `metrics` emitter), with this logger's channel and incident as properties.
   */
  metric(name: MetricName, value?: number, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Every level LOG_LEVEL may name, most verbose first. */
export const LOG_LEVELS = Object.keys(LEVELS) as LogLevel[];

export interface LoggerOptions {
  service?: string;
  level?: LogLevel;
  sink?: LogSink;
  /** Values scrubbed from every line before it is written: a second line of defence for secrets. */
  redact?: () => readonly string[];
  /** Where `metric()` goes (lib/runtime/metrics.ts); without it metrics are not written, as in the ingress functions. */
  metrics?: (write: LogSink) => MetricEmitter;
}

function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { name, message } = error;
  const code = (error as { code?: unknown }).code;
  // pd-router's own errors are expected conditions, named and explained; anything else is a bug
  // or a library failing, and its stack says where.
  const stack = error instanceof PdRouterError ? undefined : mappedStack(error);
  return { name, message, ...(code === undefined ? {} : { code }), ...(stack ? { stack } : {}) };
}

function scrub(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    if (secret.length >= 6 && out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** A structured JSON logger: one JSON object per line, context merged in. */
export function createLogger(options: LoggerOptions = {}, context: LogContext = {}): Logger {
  const sink = options.sink ?? ((line: string) => process.stdout.write(`${line}\n`));
  const threshold = LEVELS[options.level ?? 'info'] ?? LEVELS.info;
  // Metrics are not log lines: a quieter level keeps them; only `silent` drops them.
  const emit = options.metrics && threshold < LEVELS.silent ? options.metrics((line) => sink(scrub(line, options.redact?.() ?? []))) : undefined;
  return buildLogger(options, context, sink, threshold, emit);
}

function buildLogger(options: LoggerOptions, context: LogContext, sink: LogSink, threshold: number, emit: MetricEmitter | undefined): Logger {
  const write = (level: Exclude<LogLevel, 'silent'>, message: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS[level] < threshold) return;
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      service: options.service ?? 'pd-router',
      message,
      ...context,
      ...fields,
    };
    if (entry.error !== undefined) entry.error = serializeError(entry.error);
    sink(scrub(JSON.stringify(entry), options.redact?.() ?? []));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    // Children share the parent's emitter: one Powertools instance per logger tree, not per message.
    child: (extra) => buildLogger(options, { ...context, ...extra }, sink, threshold, emit),
    metric: (name, value = 1, fields = {}) => emit?.(name, value, { ...context, ...fields }),
  };
}
