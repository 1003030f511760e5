import { FAILPOINTS, failpoint, parseFailpoints } from './failpoints';

describe('failpoints', () => {
  it('arms the named failpoints, with or without the action spelled out', () => {
    expect([...parseFailpoints('refresh.after-vault-store')]).toEqual(['refresh.after-vault-store']);
    expect([...parseFailpoints(' refresh.after-vault-store=kill , vault.after-credential-store ')]).toEqual(['refresh.after-vault-store', 'vault.after-credential-store']);
    expect(parseFailpoints(undefined).size).toBe(0);
    expect(parseFailpoints('').size).toBe(0);
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
    failpoint('refresh.after-vault-store');
    expect(kill).not.toHaveBeenCalled();
    kill.mockRestore();
  });
});
