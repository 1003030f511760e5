import { ConnectError, connectUrlOf, isConnectResult, outcomeOf, watchPopup } from '../src/connect-popup';

/*
 * The browser-independent rules of the connect flow: which messages count, what they mean, and a closed popup
 * as a cancel. The same flow runs in Chromium against the real platform in test/browser.
 */
const GATEWAY = 'http://127.0.0.1:3000';
const success = { type: 'authpipe:connect', status: 'success', connectionId: 'con_AAAAAAAAAAAAAAAAAAAAAA', provider: 'gmail', userId: 'u1', scopes: ['s'] };

describe('isConnectResult', () => {
  const popup = { closed: false };
  it('accepts only the popup, on the gateway origin, with the result shape', () => {
    expect(isConnectResult({ origin: GATEWAY, source: popup as never, data: success }, GATEWAY, popup)).toBe(true);
    expect(isConnectResult({ origin: GATEWAY, source: popup as never, data: { type: 'authpipe:connect', status: 'error', reason: 'access_denied', message: 'm' } }, GATEWAY, popup)).toBe(true);
  });

  it.each([
    ['another origin', { origin: 'http://127.0.0.1:3002', source: popup, data: success }],
    ['an origin that only starts like the gateway', { origin: `${GATEWAY}.evil.example`, source: popup, data: success }],
    ['another window', { origin: GATEWAY, source: {}, data: success }],
    ['no source', { origin: GATEWAY, source: null, data: success }],
    ['another message type', { origin: GATEWAY, source: popup, data: { ...success, type: 'other' } }],
    ['a string', { origin: GATEWAY, source: popup, data: JSON.stringify(success) }],
    ['a success without ids', { origin: GATEWAY, source: popup, data: { type: 'authpipe:connect', status: 'success' } }],
    ['an unknown status', { origin: GATEWAY, source: popup, data: { ...success, status: 'maybe' } }],
  ])('ignores %s', (_what, event) => {
    expect(isConnectResult(event as never, GATEWAY, popup)).toBe(false);
  });

  it('ignores everything when there is no popup', () => {
    expect(isConnectResult({ origin: GATEWAY, source: null, data: success }, GATEWAY, null)).toBe(false);
  });
});

describe('outcomeOf and connectUrlOf', () => {
  it('turns messages into outcomes, copying only the known fields', () => {
    expect(outcomeOf({ ...success, metadata: { guild_id: '1' } } as never)).toEqual({
      status: 'success',
      connection: { connectionId: success.connectionId, provider: 'gmail', userId: 'u1', scopes: ['s'], metadata: { guild_id: '1' } },
    });
    const failed = outcomeOf({ type: 'authpipe:connect', status: 'error', reason: 'access_denied', message: 'You declined.', provider: 'gmail' });
    expect(failed.status).toBe('error');
    const error = (failed as { error: ConnectError }).error;
    expect(error).toBeInstanceOf(ConnectError);
    expect([error.reason, error.message, error.provider]).toEqual(['access_denied', 'You declined.', 'gmail']);
  });

  it('takes a session object or a URL, refuses other schemes and a pinned origin mismatch', () => {
    expect(connectUrlOf({ connectUrl: `${GATEWAY}/v1/connect/start?session=x` }).origin).toBe(GATEWAY);
    expect(connectUrlOf(`${GATEWAY}/v1/connect/start?session=x`, GATEWAY).href).toContain('session=x');
    expect(() => connectUrlOf('javascript:alert(1)')).toThrow(ConnectError);
    expect(() => connectUrlOf('not a url')).toThrow(ConnectError);
    expect(() => connectUrlOf('https://evil.example/v1/connect/start', GATEWAY)).toThrow('expected gateway origin');
  });
});

describe('watchPopup', () => {
  const setup = () => {
    const win = new EventTarget() as unknown as Window;
    const popup = { closed: false } as Window;
    const outcomes: unknown[] = [];
    const stop = watchPopup({ win, popup, gatewayOrigin: GATEWAY, onOutcome: (o) => outcomes.push(o), pollMs: 5, closeGraceMs: 30 });
    const post = (origin: string, source: unknown, data: unknown) => {
      const event = new MessageEvent('message', { origin, data });
      Object.defineProperty(event, 'source', { value: source });
      win.dispatchEvent(event);
    };
    return { popup, outcomes, stop, post };
  };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('reports the result once, ignoring forged messages before it', async () => {
    const { popup, outcomes, post } = setup();
    post('http://127.0.0.1:3002', popup, success);
    post(GATEWAY, {}, success);
    expect(outcomes).toEqual([]);
    post(GATEWAY, popup, success);
    post(GATEWAY, popup, { ...success, userId: 'u2' });
    (popup as { closed: boolean }).closed = true;
    await wait(80);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ status: 'success', connection: { userId: 'u1' } });
  });

  it('takes a closed popup as a cancel, unless the result arrives within the grace period', async () => {
    const cancelled = setup();
    (cancelled.popup as { closed: boolean }).closed = true;
    await wait(80);
    expect(cancelled.outcomes).toEqual([{ status: 'cancelled' }]);

    const late = setup();
    (late.popup as { closed: boolean }).closed = true;
    await wait(10);
    late.post(GATEWAY, late.popup, success);
    await wait(80);
    expect(late.outcomes).toHaveLength(1);
    expect(late.outcomes[0]).toMatchObject({ status: 'success' });
  });

  it('reports nothing after stop()', async () => {
    const { popup, outcomes, stop, post } = setup();
    stop();
    post(GATEWAY, popup, success);
    (popup as { closed: boolean }).closed = true;
    await wait(80);
    expect(outcomes).toEqual([]);
  });
});
