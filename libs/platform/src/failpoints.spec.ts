import { describeFailpoints, FAILPOINTS, failpoint, parseFailpoints } from './failpoints';

describe('failpoints', () => {
  it('arms the named failpoints, with or without the action spelled out', () => {
    expect([...parseFailpoints('refresh.after-vault-store').keys()]).toEqual(['refresh.after-vault-store']);
    expect([...parseFailpoints(' refresh.after-vault-store=kill , vault.after-credential-store ').keys()]).toEqual(['refresh.after-vault-store', 'vault.after-credential-store']);
    expect(parseFailpoints(undefined).size).toBe(0);
    expect(parseFailpoints('').size).toBe(0);
  });

  it('arms a pause with sleep(<ms>)', () => {
    const armed = parseFailpoints('projection.before-apply=sleep(1500),refresh.after-vault-store');
    expect(armed.get('projection.before-apply')).toEqual({ kind: 'sleep', ms: 1500 });
    expect(armed.get('refresh.after-vault-store')).toEqual({ kind: 'kill' });
    expect(describeFailpoints(armed)).toBe('projection.before-apply=sleep(1500), refresh.after-vault-store=kill');
    expect(() => parseFailpoints('projection.before-apply=sleep(soon)')).toThrow(/unknown action "sleep\(soon\)"/);
    expect(() => parseFailpoints('projection.before-apply=sleep()')).toThrow(/unknown action/);
  });

  it('refuses a name or an action it does not know (a misspelt failpoint would never fire)', () => {
    expect(() => parseFailpoints('refresh.after-vault-stor')).toThrow(/unknown failpoint "refresh.after-vault-stor".*refresh.after-vault-store/);
    expect(() => parseFailpoints('refresh.after-vault-store=panic')).toThrow(/unknown action "panic"/);
  });

  it('documents every failpoint', () => {
    for (const [name, where] of Object.entries(FAILPOINTS)) expect({ name, where }).toEqual({ name, where: expect.stringMatching(/^[a-z-]+: .{20,}/) });
  });

  it('does nothing when not armed (this test process would be killed otherwise)', () => {
    const kill = jest.spyOn(process, 'kill');
    expect(failpoint('refresh.after-vault-store')).toBeUndefined();
    expect(failpoint('projection.before-apply')).toBeUndefined();
    expect(kill).not.toHaveBeenCalled();
    kill.mockRestore();
  });
});
