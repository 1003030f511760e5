/** Whether a credential should be refreshed before it is handed out: it expires within the provider's margin. */
export function needsRefresh(expiresAt: string | null | undefined, refreshable: boolean, marginSeconds: number, now: Date): boolean {
  if (!refreshable || !expiresAt) return false;
  return Date.parse(expiresAt) - now.getTime() <= marginSeconds * 1000;
}
