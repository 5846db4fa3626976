import { PdRouterError } from './errors';
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
  /** A CloudWatch embedded-metric line: a count that alarms and dashboards can use. */
  metric(name: string, value?: number, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LoggerOptions {
  service?: string;
  level?: LogLevel;
  sink?: LogSink;
  /** Values scrubbed from every line before it is written: a second line of defence for secrets. */
  redact?: () => readonly string[];
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
    child: (extra) => createLogger(options, { ...context, ...extra }),
    metric: (name, value = 1, fields = {}) =>
      write('info', `metric ${name}`, {
        ...fields,
        [name]: value,
        _aws: {
          Timestamp: Date.now(),
          CloudWatchMetrics: [{ Namespace: 'pd-router', Dimensions: [[]], Metrics: [{ Name: name, Unit: 'Count' }] }],
        },
      }),
  };
}
