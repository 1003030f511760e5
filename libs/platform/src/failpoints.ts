/*
 * Failpoints: named places in the code where a test makes the process crash, to hit a crash window (after one write,
 * before the next) deterministically instead of by luck with kill -9. The same idea as fail-rs (`FAILPOINTS=name=
 * action`), etcd's gofail (`GOFAIL_FAILPOINTS`) and pingcap/failpoint (`GO_FAILPOINTS`), reduced to the one action the
 * fault suites need: die at once, as a crash would (SIGKILL: no shutdown hook, no reply, no flush).
 *
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store                 one failpoint
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store,vault.after-credential-store
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store=kill            the action spelled out (kill is the only one)
 *
 * Inert unless the variable is set and non-empty: `failpoint(name)` is then one Set lookup. A name that is not in
 * FAILPOINTS stops the app at start (a misspelt failpoint would otherwise never fire and the test would wait in
 * vain), and an app started with failpoints armed says so in its log. Never set it in production.
 */

/** Every failpoint: where it is and which window it opens. This list is the documentation. */
export const FAILPOINTS = {
  'refresh.after-vault-store':
    'refresher: the refreshed credential is stored in vault and its Refreshed event is not appended yet (the dual-write window)',
  'vault.after-credential-store': 'vault: a credential is written to the secret store and the reply is not sent yet (the caller sees a timeout)',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

const ENV = 'AUTHPIPE_FAILPOINTS';

/** The failpoints a value of AUTHPIPE_FAILPOINTS arms. @throws Error naming the unknown failpoint or action */
export function parseFailpoints(value: string | undefined): ReadonlySet<FailpointName> {
  const armed = new Set<FailpointName>();
  for (const item of (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, action = 'kill'] = item.split('=').map((s) => s.trim());
    if (!(name in FAILPOINTS)) throw new Error(`${ENV}: unknown failpoint "${name.slice(0, 64)}" (known: ${Object.keys(FAILPOINTS).join(', ')})`);
    if (action !== 'kill') throw new Error(`${ENV}: failpoint ${name}: unknown action "${action.slice(0, 32)}" (known: kill)`);
    armed.add(name as FailpointName);
  }
  return armed;
}

let armed: ReadonlySet<FailpointName> | undefined;

/** Reads AUTHPIPE_FAILPOINTS once (apps call it at start, so that a bad value fails the start); returns what is armed. */
export function armFailpoints(env: NodeJS.ProcessEnv = process.env): ReadonlySet<FailpointName> {
  armed ??= parseFailpoints(env[ENV]);
  return armed;
}

/** A place where a test may crash this process. Does nothing unless AUTHPIPE_FAILPOINTS arms `name`. */
export function failpoint(name: FailpointName): void {
  if (!armFailpoints().has(name)) return;
  // Synchronous, so the line is out before the signal; the signal to ourselves ends the process before kill returns.
  process.stderr.write(`failpoint ${name}: SIGKILL (${ENV})\n`);
  process.kill(process.pid, 'SIGKILL');
}
