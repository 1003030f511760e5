import { SseMessage, SseParser } from '../src/sse-parser';

describe('SseParser', () => {
  const parse = (...chunks: string[]) => {
    const messages: SseMessage[] = [];
    const retries: number[] = [];
    const parser = new SseParser((m) => messages.push(m), (ms) => retries.push(ms));
    for (const chunk of chunks) parser.push(chunk);
    return { messages, retries, parser };
  };

  it('dispatches on a blank line, joins data lines, defaults the type to message', () => {
    expect(parse('data: a\ndata: b\n\ndata:c\n\n').messages).toEqual([
      { event: 'message', data: 'a\nb', lastEventId: '' },
      { event: 'message', data: 'c', lastEventId: '' },
    ]);
  });

  it('accepts CRLF, LF and CR line ends, also split between chunks', () => {
    const { messages } = parse('event: A\r', '\ndata: 1\r', '\r', 'event: B\rdata: 2\r\r', '\n', 'event: C\ndata: 3\n\n');
    expect(messages.map((m) => [m.event, m.data])).toEqual([['A', '1'], ['B', '2'], ['C', '3']]);
  });

  it('keeps the last event id across events, ignores ids with NUL, comments and unknown fields', () => {
    const { messages } = parse(': comment\nid: 7\nfoo: bar\ndata: x\n\nid: bad\u0000id\ndata: y\n\n');
    expect(messages.map((m) => m.lastEventId)).toEqual(['7', '7']);
  });

  it('takes retry only as digits, skips events without data, and drops an unterminated event on reset', () => {
    const { messages, retries, parser } = parse('retry: 1500\nretry: 2s\n\nevent: Empty\n\ndata: partial');
    expect(retries).toEqual([1500]);
    expect(messages).toEqual([]);
    parser.reset();
    parser.push('data: next\n\n');
    expect(messages).toEqual([{ event: 'message', data: 'next', lastEventId: '' }]);
  });
});
