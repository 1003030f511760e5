import { ferretDbBinary, FERRETDB_VERSION, startFerretDb } from './ferretdb';

/**
 * Which MongoDB the MongoDB suites talk to, decided while a test file is collected: MONGODB_URL, else a mongo:7
 * container (where a container runtime exists), else FerretDB built with Go; else none, with the reason, and the
 * suite skips loudly.
 */
export interface MongoServer {
  kind: 'url' | 'container' | 'ferretdb' | 'none';
  label: string;
  /** Why no MongoDB can run here (kind 'none'). */
  unavailable?: string;
  /** Start the server if this choice runs one; resolves to its connection URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

export function chooseMongoServer(): MongoServer {
  let stopServer: (() => Promise<void>) | undefined;
  const stop = async () => stopServer?.();
  if (process.env.MONGODB_URL) {
    const url = process.env.MONGODB_URL;
    return { kind: 'url', label: 'MONGODB_URL', start: async () => url, stop };
  }
  if (process.env.AUTHPIPE_TEST_CONTAINERS === '1') {
    return {
      kind: 'container',
      label: 'testcontainers mongo:7',
      async start() {
        const { GenericContainer, Wait } = await import('testcontainers');
        const container = await new GenericContainer('mongo:7')
          .withExposedPorts(27017)
          .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
          .start();
        stopServer = async () => {
          await container.stop();
        };
        return `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/?directConnection=true`;
      },
      stop,
    };
  }
  const binary = ferretDbBinary();
  if (binary.available) {
    if (binary.built) console.warn(`built FerretDB ${FERRETDB_VERSION} in ${binary.buildSeconds} s: ${binary.path}`);
    return {
      kind: 'ferretdb',
      label: `FerretDB ${FERRETDB_VERSION} (SQLite)`,
      async start() {
        const ferretdb = await startFerretDb(binary.path);
        stopServer = ferretdb.stop;
        return ferretdb.url;
      },
      stop,
    };
  }
  const containers = process.env.AUTHPIPE_TEST_CONTAINERS_REASON ?? 'not probed: run through jest globalSetup';
  const reason = `MONGODB_URL is not set; no container runtime (${containers}); ${binary.reason}`;
  return { kind: 'none', label: 'no MongoDB', unavailable: reason, start: () => Promise.reject(new Error(reason)), stop };
}
