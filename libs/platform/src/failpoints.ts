/*
 * Failpoints: named places in the code where a test makes the process crash or pause, to hit a window (after one
 * write, before the next; an event stored and not projected yet) deterministically instead of by luck with kill -9
 * or load. The same idea as fail-rs (`FAILPOINTS=name=action`), etcd's gofail (`GOFAIL_FAILPOINTS`) and pingcap/
 * failpoint (`GO_FAILPOINTS`), reduced to the two actions the fault suites need, spelt as there:
 * - `kill` (the default): die at once, as a crash would (SIGKILL: no shutdown hook, no reply, no flush);
 * - `sleep(<ms>)`: wait that long and go on, e.g. to make a projection lag.
 *
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store                 one failpoint
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store,vault.after-credential-store
 *   AUTHPIPE_FAILPOINTS=refresh.after-vault-store=kill            the action spelled out
 *   AUTHPIPE_FAILPOINTS=projection.before-apply=sleep(1000)       every event reaches query-api's read models 1 s late
 *
 * Inert unless the variable is set and non-empty: `failpoint(name)` is then one Map lookup. A name that is not in
 * FAILPOINTS stops the app at start (a misspelt failpoint would otherwise never fire and the test would wait in
 * vain), and an app started with failpoints armed says so in its log. Never set it in production.
 */

/** Every failpoint: where it is and which window it opens. This list is the documentation. */
export const FAILPOINTS = {
  'refresh.after-vault-store':
    'refresher: the refreshed credential is stored in vault and its Refreshed event is not appended yet (the dual-write window)',
  'vault.after-credential-store': 'vault: a credential is written to the secret store and the reply is not sent yet (the caller sees a timeout)',
  'projection.before-apply':
    'query-api: an event is read from the history and not applied to the read models yet (with sleep: projection lag on demand)',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

export type FailpointAction = { kind: 'kill' } | { kind: 'sleep'; ms: number };

const ENV = 'AUTHPIPE_FAILPOINTS';
const SLEEP = /^sleep\((\d{1,7})\)$/;

function parseAction(name: string, action: string): FailpointAction {
  if (action === 'kill') return { kind: 'kill' };
  const sleep = SLEEP.exec(action);
  if (sleep) return { kind: 'sleep', ms: Number(sleep[1]) };
  throw new Error(`${ENV}: failpoint ${name}: unknown action "${action.slice(0, 32)}" (known: kill, sleep(<ms>))`);
}

/** The failpoints a value of AUTHPIPE_FAILPOINTS arms, with their actions. @throws Error naming the unknown failpoint or action */
export function parseFailpoints(value: string | undefined): ReadonlyMap<FailpointName, FailpointAction> {
  const armed = new Map<FailpointName, FailpointAction>();
  for (const item of (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, action = 'kill'] = item.split('=').map((s) => s.trim());
    if (!(name in FAILPOINTS)) throw new Error(`${ENV}: unknown failpoint "${name.slice(0, 64)}" (known: ${Object.keys(FAILPOINTS).join(', ')})`);
    armed.set(name as FailpointName, parseAction(name, action));
  }
  return armed;
}

let armed: ReadonlyMap<FailpointName, FailpointAction> | undefined;

/** Reads AUTHPIPE_FAILPOINTS once (apps call it at start, so that a bad value fails the start); returns what is armed. */
export function armFailpoints(env: NodeJS.ProcessEnv = process.env): ReadonlyMap<FailpointName, FailpointAction> {
  armed ??= parseFailpoints(env[ENV]);
  return armed;
}

/** `name=action` for each armed failpoint, for the start-up warning. */
export function describeFailpoints(failpoints: ReadonlyMap<FailpointName, FailpointAction>): string {
  return [...failpoints].map(([name, action]) => `${name}=${action.kind === 'kill' ? 'kill' : `sleep(${action.ms})`}`).join(', ');
}

/**
 * A place where a test may crash or pause this process. Does nothing (returns undefined) unless AUTHPIPE_FAILPOINTS
 * arms `name`; armed with sleep it returns a promise to await.
 */
export function failpoint(name: FailpointName): Promise<void> | undefined {
  const action = armFailpoints().get(name);
  if (!action) return undefined;
  if (action.kind === 'sleep') return new Promise((resolve) => setTimeout(resolve, action.ms));
  // Synchronous, so the line is out before the signal; the signal to ourselves ends the process before kill returns.
  process.stderr.write(`failpoint ${name}: SIGKILL (${ENV})\n`);
  process.kill(process.pid, 'SIGKILL');
  return undefined;
}
