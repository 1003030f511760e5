import { connect } from 'node:net';

/**
 * A raw HTTP/1.1 request over a socket. fetch and node:http refuse what a fuzzer must send (CR LF in a header, bytes
 * that are not UTF-8 in the target, a Content-Length that lies), so the request is written as bytes and the answer
 * parsed here. One request per connection (Connection: close).
 */
export interface RawRequest {
  method: string;
  /** The request target exactly as sent: path and query, already encoded (or deliberately not). */
  target: string | Buffer;
  headers: [name: string, value: string | Buffer][];
  body?: Buffer;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Header names in the order received, lower-case, repeated names kept. */
  headerNames: string[];
  body: Buffer;
  /** The server closed the stream before it ended (text/event-stream: we stop reading at the headers). */
  streaming: boolean;
}

const CRLF = '\r\n';

export function sendRaw(baseUrl: string, request: RawRequest, timeoutMs = 20_000): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const head = Buffer.concat([
    Buffer.from(`${request.method} `, 'latin1'),
    Buffer.isBuffer(request.target) ? request.target : Buffer.from(request.target, 'latin1'),
    Buffer.from(` HTTP/1.1${CRLF}Host: ${hostname}:${port}${CRLF}Connection: close${CRLF}`, 'latin1'),
    ...request.headers.map(([name, value]) => Buffer.concat([Buffer.from(`${name}: `, 'latin1'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'), Buffer.from(CRLF)])),
    Buffer.from(CRLF),
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      const parsed = parseResponse(Buffer.concat(chunks));
      // A server may answer (413) and close before it read the whole body: the write then fails, the answer stands.
      if (parsed && (parsed.complete || !error)) {
        settled = true;
        socket.destroy();
        return resolve(parsed.response);
      }
      if (error || parsed === undefined) {
        settled = true;
        socket.destroy();
        reject(error ?? new Error(`no HTTP answer for ${request.method} ${String(request.target).slice(0, 120)} (${Buffer.concat(chunks).length} bytes)`));
      }
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no answer within ${timeoutMs} ms for ${request.method} ${String(request.target).slice(0, 120)}`)));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed?.complete) finish();
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish(new Error('connection closed')));
    socket.on('error', (err) => finish(err));
    socket.write(head);
    if (request.body?.length) socket.write(request.body);
  });
}

/** The response so far: undefined until the head is in; complete once the body is (or at the head of a stream). */
function parseResponse(data: Buffer): { response: RawResponse; complete: boolean } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = data.subarray(0, end).toString('latin1').split(CRLF);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
  const headers: Record<string, string> = {};
  const headerNames: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headerNames.push(name);
    headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`;
  }
  const rest = data.subarray(end + 4);
  const response = (body: Buffer, streaming = false): RawResponse => ({ status, headers, headerNames, body, streaming });
  if ((headers['content-type'] ?? '').startsWith('text/event-stream')) return { response: response(rest, true), complete: true };
  if (headers['transfer-encoding']?.includes('chunked')) {
    const decoded = dechunk(rest);
    return { response: response(decoded.body), complete: decoded.complete };
  }
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  if (length !== undefined) return { response: response(rest.subarray(0, length)), complete: rest.length >= length };
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { response: response(Buffer.alloc(0)), complete: true };
  return { response: response(rest), complete: false };
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    if (data.length < lineEnd + 2 + size + 2) return { body: Buffer.concat(parts), complete: false };
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
