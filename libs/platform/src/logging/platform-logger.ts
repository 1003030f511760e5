import type { LoggerService, LogLevel } from '@nestjs/common';
import { currentCorrelationId } from './request-context';
import { redact, redactText } from './redact';

/** `json`: one JSON object per line, for log collectors. `pretty`: one readable line, for people at a terminal. */
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** AUTHPIPE_LOG_FORMAT when set, else `pretty` on a terminal and `json` anywhere else (a pipe, a container, a file). */
export function resolveLogFormat(setting: string | undefined, isTty = Boolean(process.stdout.isTTY)): LogFormat {
  return setting === 'json' || setting === 'pretty' ? setting : isTty ? 'pretty' : 'json';
}

export interface PlatformLoggerOptions {
  app: string;
  /** The most detailed level written (AUTHPIPE_LOG_LEVEL); `fatal` and `error` are always written. */
  level: 'debug' | 'log' | 'warn' | 'error' | 'verbose';
  format: LogFormat;
  /** Where lines go (tests capture them); by default stdout, and stderr for error and fatal. */
  write?: (line: string, level: LogLevel) => void;
}

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
/** Nest's level names as the names log collectors know. */
const LEVEL_NAME: Record<LogLevel, string> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'verbose' };

/** One log line before formatting. */
export interface LogRecord {
  time: string;
  level: string;
  app: string;
  context?: string;
  message: string;
  correlationId?: string;
  data?: unknown;
  stack?: string;
}

/**
 * A stack as its frames: the first line of a stack is `Name: message`, and messages may quote input, so only the
 * name is kept. Accepts real stacks and the ` | `-joined excerpts the exception filters log.
 */
export function stackFrames(stack: string): string {
  const [head, ...frames] = stack.split(/\n| \| /);
  const name = /^\s*at /.test(head) ? undefined : (/^([A-Za-z_$][\w$.]*)(?::|$)/.exec(head.trim())?.[1] ?? '[message]');
  return [...(name ? [name] : [head]), ...frames.map((frame) => redactText(frame))].join('\n');
}

const looksLikeStack = (text: string): boolean => /(\n| \| )\s*at /.test(text);

/**
 * The logger of every app (Nest's and the apps' own `new Logger(...)` calls end here): redacts secrets, adds the
 * app, the context and the correlation id of the work running now, and writes JSON lines or readable lines.
 */
export class PlatformLogger implements LoggerService {
  private enabled: Set<LogLevel>;
  private readonly write: (line: string, level: LogLevel) => void;

  constructor(private readonly options: PlatformLoggerOptions) {
    this.enabled = new Set(ORDER.slice(0, ORDER.indexOf(options.level) + 1));
    this.write =
      options.write ??
      ((line, level) => (level === 'error' || level === 'fatal' ? process.stderr : process.stdout).write(`${line}\n`));
  }

  log(message: unknown, ...params: unknown[]): void {
    this.print('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.print('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.print('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.print('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.print('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.print('fatal', message, params);
  }

  setLogLevels(levels: LogLevel[]): void {
    this.enabled = new Set(levels);
  }

  isEnabled(level: LogLevel): boolean {
    return this.enabled.has(level);
  }

  /** The record a call becomes: Nest passes the context last, and for errors a stack before it. */
  toRecord(level: LogLevel, message: unknown, params: unknown[]): LogRecord {
    const rest = [...params];
    const last = rest[rest.length - 1];
    const context = rest.length && (last === undefined || (typeof last === 'string' && !looksLikeStack(last))) ? (rest.pop() as string | undefined) : undefined;
    let stack: string | undefined;
    if ((level === 'error' || level === 'fatal') && typeof rest[0] === 'string') stack = stackFrames(rest.shift() as string);
    if (message instanceof Error) stack ??= message.stack ? stackFrames(message.stack) : undefined;
    const extra = rest.filter((p) => p !== undefined);
    const data = typeof message === 'object' && message !== null && !(message instanceof Error) ? redact(message) : extra.length ? redact(extra.length === 1 ? extra[0] : extra) : undefined;
    const text = typeof message === 'string' ? message : message instanceof Error ? `${message.name}: ${message.message}` : '';
    const correlationId = currentCorrelationId();
    return {
      time: new Date().toISOString(),
      level: LEVEL_NAME[level],
      app: this.options.app,
      ...(context ? { context } : {}),
      message: redactText(text),
      ...(correlationId ? { correlationId } : {}),
      ...(data !== undefined ? { data } : {}),
      ...(stack ? { stack } : {}),
    };
  }

  private print(level: LogLevel, message: unknown, params: unknown[]): void {
    if (!this.enabled.has(level)) return;
    const record = this.toRecord(level, message, params);
    this.write(this.options.format === 'json' ? JSON.stringify(record) : pretty(record), level);
  }
}

function pretty(record: LogRecord): string {
  const level = record.level.toUpperCase().padEnd(5);
  const context = record.context ? `[${record.context}] ` : '';
  const correlation = record.correlationId ? ` (correlationId ${record.correlationId})` : '';
  const data = record.data !== undefined ? ` ${JSON.stringify(record.data)}` : '';
  const stack = record.stack ? `\n  ${record.stack.split('\n').join('\n  ')}` : '';
  return `${record.time} ${level} ${context}${record.message}${data}${correlation}${stack}`;
}
