/*
 * autocannon 9.0.0 ships no types: the part of its programmatic API the load run uses, typed once here.
 * See node_modules/autocannon/README.md ("API").
 */

export interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface AutocannonRequestStep {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Returns the request to send; a falsy value restarts the client at the first step. */
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest | null | undefined;
  onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void;
}

export interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  /** A per-second quota for all connections together (each connection gets its share). */
  overallRate?: number;
  /** Off here: 9.0.0 corrects with an expected interval of ceil(1/rate) ms = 1 ms, which invents fast samples. */
  ignoreCoordinatedOmission?: boolean;
  timeout?: number;
  requests: AutocannonRequestStep[];
}

export interface Histogram {
  average: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  total: number;
}

export interface AutocannonResult {
  duration: number;
  /** Per-second counts of requests sent; `total` is all requests sent. */
  requests: Histogram;
  /** Milliseconds; only 2xx responses are recorded. */
  latency: Histogram;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  statusCodeStats: Record<string, { count: number }>;
}

export interface AutocannonInstance extends Promise<AutocannonResult> {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const autocannon = require('autocannon') as (options: AutocannonOptions) => AutocannonInstance;
