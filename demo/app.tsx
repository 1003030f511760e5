import { useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ConnectButton, ConnectedConnection, ConnectError, providerName } from '@authpipe/react';

/*
 * The demo page: what a platform team's frontend looks like with @authpipe/react. It talks only to its own
 * backend (demo/server.js), which holds the API key and uses @authpipe/node.
 */

interface DemoConfig {
  tenantId: string;
  userId: string;
  gatewayUrl: string;
  providers: Record<string, { description: string; hint?: string }>;
}

interface Connection {
  connectionId: string;
  provider: string;
  userId: string;
  status: 'connected' | 'revoked' | 'disconnected' | 'erased';
  health: 'healthy' | 'degraded';
  scopes: string[];
  expiresAt: string | null;
  connectedAt: string;
  lastRefreshedAt?: string;
  revocationReason?: string;
}

interface CredentialPreview {
  provider: string;
  type: string;
  preview?: string;
  username?: string;
  expiresAt: string | null;
  scopes: string[];
  servedFrom: 'cache' | 'authpipe';
  micros: number;
}

type Notice = { kind: 'ok' | 'error' | 'info'; text: string };

interface StreamEvent {
  type: string;
  provider?: string;
  connectionId?: string;
  at: string;
}

interface ConnectionsResponse {
  items: Connection[];
  eventStream: string;
  streamNote: string;
  events: StreamEvent[];
  cache: { hits: number; fetches: number; entries: number };
}

const PROVIDERS = ['gmail', 'discord', 'clicksend'];

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { 'content-type': 'application/json' } });
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

/** A time of today as 14:05:09; another day's with its date. */
function time(iso?: string | null): string {
  if (!iso) return '—';
  const at = new Date(iso);
  const clock = at.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  return at.toDateString() === new Date().toDateString() ? clock : `${at.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })}, ${clock.slice(0, 5)}`;
}
const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const duration = (micros: number) => (micros < 1000 ? `${micros.toFixed(1)} µs` : `${(micros / 1000).toFixed(1)} ms`);

function App() {
  const [config, setConfig] = useState<DemoConfig>();
  const [connections, setConnections] = useState<Connection[]>([]);
  const [stream, setStream] = useState<Pick<ConnectionsResponse, 'eventStream' | 'streamNote' | 'events' | 'cache'>>();
  const [notice, setNotice] = useState<Notice>();
  const [credential, setCredential] = useState<CredentialPreview>();

  const refresh = useCallback(async () => {
    const body = await api<ConnectionsResponse>('/api/connections');
    setConnections(body.items);
    setStream(body);
  }, []);

  useEffect(() => {
    void api<DemoConfig>('/api/config').then(setConfig);
    void refresh();
    const timer = setInterval(() => void refresh().catch(() => undefined), 4000);
    return () => clearInterval(timer);
  }, [refresh]);

  const onSuccess = (connection: ConnectedConnection) => {
    setNotice({ kind: 'ok', text: `${providerName(connection.provider)} connected: ${connection.connectionId}` });
    void refresh();
  };
  const onError = (error: ConnectError) => setNotice({ kind: 'error', text: `Not connected (${error.reason}): ${error.message}` });
  const onCancel = () => setNotice({ kind: 'info', text: 'Connect cancelled: the window was closed.' });

  const getCredential = async (provider: string) => {
    try {
      setCredential(await api<CredentialPreview>('/api/credential', { method: 'POST', body: JSON.stringify({ provider }) }));
      await refresh();
    } catch (err) {
      setCredential(undefined);
      setNotice({ kind: 'error', text: (err as Error).message });
    }
  };
  const disconnect = async (connectionId: string) => {
    await api(`/api/connections/${connectionId}`, { method: 'DELETE' }).catch((err: Error) => setNotice({ kind: 'error', text: err.message }));
    setCredential(undefined);
    await refresh();
  };

  return (
    <main>
      <header>
        <h1>Authpipe demo</h1>
        <p>
          Tenant <code>{config?.tenantId ?? '…'}</code>, user <code>{config?.userId ?? '…'}</code>. The buttons are{' '}
          <code>&lt;ConnectButton&gt;</code> from <code>@authpipe/react</code>; the backend uses <code>@authpipe/node</code> and keeps the API key.
        </p>
      </header>

      <section aria-labelledby="connect-heading">
        <h2 id="connect-heading">Connect an account</h2>
        <div className="cards">
          {PROVIDERS.map((provider) => (
            <article className="card" key={provider}>
              <h3>{providerName(provider)}</h3>
              <p>{config?.providers[provider]?.description ?? ''}</p>
              {config?.providers[provider]?.hint ? <p className="hint">{config.providers[provider].hint}</p> : null}
              <ConnectButton
                className="connect"
                provider={provider}
                getSession={() => api<{ connectUrl: string }>('/api/connect-session', { method: 'POST', body: JSON.stringify({ provider }) })}
                onSuccess={onSuccess}
                onError={onError}
                onCancel={onCancel}
              />
            </article>
          ))}
        </div>
        {notice ? (
          <p className={`notice ${notice.kind}`} data-testid="notice">
            {notice.text}
          </p>
        ) : null}
      </section>

      <section aria-labelledby="connections-heading">
        <h2 id="connections-heading">Connections</h2>
        {connections.length === 0 ? (
          <p className="empty">No connections yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Status</th>
                <th scope="col">Health</th>
                <th scope="col">Connected</th>
                <th scope="col">Token expires</th>
                <th scope="col">Last refresh</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {connections.map((c) => (
                <tr key={c.connectionId} data-provider={c.provider}>
                  <td>
                    <strong>{providerName(c.provider)}</strong>
                    <div className="id">{c.connectionId}</div>
                  </td>
                  <td>
                    <span className={`pill ${c.status}`}>{c.status}</span>
                    {c.revocationReason ? <div className="id">{c.revocationReason}</div> : null}
                  </td>
                  <td>
                    <span className={`pill ${c.status === 'connected' ? c.health : 'none'}`}>{c.status === 'connected' ? c.health : '—'}</span>
                  </td>
                  <td>{time(c.connectedAt)}</td>
                  <td>{c.expiresAt ? time(c.expiresAt) : 'never'}</td>
                  <td>{time(c.lastRefreshedAt)}</td>
                  <td className="actions">
                    <button type="button" disabled={c.status !== 'connected'} onClick={() => void getCredential(c.provider)}>
                      Get credential
                    </button>
                    <button type="button" className="secondary" disabled={c.status !== 'connected'} onClick={() => void disconnect(c.connectionId)}>
                      Disconnect
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {credential ? (
        <section aria-labelledby="credential-heading" className="credential" data-testid="credential">
          <h2 id="credential-heading">Credential from the backend's SDK</h2>
          <dl>
            <dt>Provider</dt>
            <dd>
              {providerName(credential.provider)} · {credential.type}
            </dd>
            <dt>{credential.type === 'oauth2' ? 'Access token' : 'API key'}</dt>
            <dd>
              <code>{credential.preview}</code> <span className="id">(masked by the demo backend)</span>
            </dd>
            {credential.username ? (
              <>
                <dt>Username</dt>
                <dd>{credential.username}</dd>
              </>
            ) : null}
            <dt>Expires</dt>
            <dd>{credential.expiresAt ? time(credential.expiresAt) : 'never'}</dd>
            <dt>Answered</dt>
            <dd data-testid="served-from">
              from {credential.servedFrom === 'cache' ? 'the in-process cache' : 'Authpipe (query-api)'} in {duration(credential.micros)}
            </dd>
          </dl>
        </section>
      ) : null}

      <section aria-labelledby="events-heading" className="events">
        <h2 id="events-heading">The backend's SDK</h2>
        <p>
          Event stream <span className={`pill ${stream?.eventStream === 'open' ? 'healthy' : 'none'}`}>{stream?.eventStream ?? '…'}</span>
          {stream?.streamNote ? <span className="id"> {stream.streamNote}</span> : null} · cache: {count(stream?.cache.entries ?? 0, 'entry', 'entries')},{' '}
          {count(stream?.cache.hits ?? 0, 'hit')}, {count(stream?.cache.fetches ?? 0, 'read')} from query-api
        </p>
        {stream?.events.length ? (
          <ol className="event-list">
            {stream.events.map((e, i) => (
              <li key={`${e.at}-${i}`}>
                <span className="id">{time(e.at)}</span> <strong>{e.type}</strong> {e.provider ? providerName(e.provider) : ''}
              </li>
            ))}
          </ol>
        ) : (
          <p className="empty">No events yet: connect, refresh, revoke or disconnect something.</p>
        )}
      </section>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(<App />);
