/**
 * A server-sent events parser (WHATWG HTML, "Interpreting an event stream"): text in, events out. Lines end with
 * CRLF, LF or CR (a CR at the end of a chunk may be followed by the LF of the next one); `data` lines join with
 * LF; a blank line dispatches; `:` lines are comments; an `id` with NUL is ignored; `retry` takes digits only.
 *
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
export interface SseMessage {
  /** `message` when the server named none. */
  event: string;
  data: string;
  /** The last event id seen so far (it persists across events, as the spec says). */
  lastEventId: string;
}

export class SseParser {
  private buffer = '';
  private skipLeadingLf = false;
  private eventType = '';
  private data: string[] = [];
  private hasData = false;
  lastEventId = '';

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (ms: number) => void = () => undefined,
  ) {}

  push(chunk: string): void {
    let text = chunk;
    if (this.skipLeadingLf) {
      if (text.startsWith('\n')) text = text.slice(1);
      this.skipLeadingLf = false;
    }
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The connection ended: an event not terminated by a blank line is discarded, as the spec says. */
  reset(): void {
    this.buffer = '';
    this.skipLeadingLf = false;
    this.eventType = '';
    this.data = [];
    this.hasData = false;
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    const data = this.data.join('\n');
    const had = this.hasData;
    this.eventType = '';
    this.data = [];
    this.hasData = false;
    if (!had) return;
    this.onMessage({ event: type, data, lastEventId: this.lastEventId });
  }
}
