import { Logger } from '@nestjs/common';
import { PlatformLogger, resolveLogFormat, stackFrames } from './platform-logger';
import { runWithCorrelationId } from './request-context';

function capture(format: 'json' | 'pretty', level: 'debug' | 'log' = 'log') {
  const lines: string[] = [];
  const logger = new PlatformLogger({ app: 'test-app', level, format, write: (line) => lines.push(line) });
  return { logger, lines };
}

describe('PlatformLogger', () => {
  it('writes one JSON object per line: time, level, app, context, message, correlationId', () => {
    const { logger, lines } = capture('json');
    runWithCorrelationId('req-42', () => logger.log('connected con_1', 'ConnectFlow'));
    logger.warn('no correlation here', 'Other');
    const [first, second] = lines.map((line) => JSON.parse(line));
    expect(first).toEqual({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: 'info', app: 'test-app', context: 'ConnectFlow', message: 'connected con_1', correlationId: 'req-42' });
    expect(second).toMatchObject({ level: 'warn', context: 'Other', message: 'no correlation here' });
    expect(second.correlationId).toBeUndefined();
    expect(lines.every((line) => !line.includes('\n'))).toBe(true);
  });

  it('keeps the correlation id across awaits', async () => {
    const { logger, lines } = capture('json');
    await runWithCorrelationId('req-7', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      logger.log('after a timer', 'X');
    });
    expect(JSON.parse(lines[0]).correlationId).toBe('req-7');
  });

  it('redacts messages, structured data and stacks; keeps only the name of a stack head', () => {
    const { logger, lines } = capture('json');
    logger.log({ request: { headers: { authorization: 'Bearer tok' }, body: { clientSecret: 'cs' } } }, 'Ctx');
    logger.error('refresh failed: refresh_token=rt-123', 'Error: token rt-123 was refused\n    at fly (refresh.service.ts:10:5)', 'Ctx');
    logger.error(new Error('boom with Bearer abc'));
    const text = lines.join('\n');
    for (const secret of ['tok', 'cs', 'rt-123', 'abc']) expect(text).not.toMatch(new RegExp(`\\b${secret}\\b`));
    const error = JSON.parse(lines[1]);
    expect(error).toMatchObject({ level: 'error', context: 'Ctx', message: 'refresh failed: refresh_token=[REDACTED]', stack: 'Error\n    at fly (refresh.service.ts:10:5)' });
  });

  it('takes the ` | `-joined stack excerpts the exception filters log', () => {
    expect(stackFrames('TypeError: x is 42 |     at a (f.ts:1:1) |     at b (f.ts:2:2)')).toBe('TypeError\n    at a (f.ts:1:1)\n    at b (f.ts:2:2)');
    expect(stackFrames('    at a (f.ts:1:1) |     at b (f.ts:2:2)')).toBe('    at a (f.ts:1:1)\n    at b (f.ts:2:2)');
  });

  it('filters by level and writes readable lines in the pretty format', () => {
    const { logger, lines } = capture('pretty');
    logger.debug('hidden', 'Ctx');
    runWithCorrelationId('r-1', () => logger.log('shown', 'Ctx'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\S+ INFO  \[Ctx\] shown \(correlationId r-1\)$/);
  });

  it('receives what Nest Logger instances log once it is the override', () => {
    const { logger, lines } = capture('json', 'debug');
    Logger.overrideLogger(logger);
    try {
      new Logger('Scheduler').debug('tick');
      new Logger('Scheduler').error('failed', 'Error: with password=pw\n    at x (y.ts:1:1)');
    } finally {
      Logger.overrideLogger(true);
    }
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 'debug', context: 'Scheduler', message: 'tick' }),
      expect.objectContaining({ level: 'error', context: 'Scheduler', message: 'failed', stack: 'Error\n    at x (y.ts:1:1)' }),
    ]);
  });
});

describe('resolveLogFormat', () => {
  it('takes the setting, else pretty on a terminal and json elsewhere', () => {
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    expect(resolveLogFormat(undefined, true)).toBe('pretty');
    expect(resolveLogFormat(undefined, false)).toBe('json');
  });
});
