import { Problems } from './problem';

describe('Problems.unknownProvider', () => {
  it('quotes a key shaped like a provider key', () => {
    expect(Problems.unknownProvider('nosuch').body('/x')).toMatchObject({ status: 404, code: 'UNKNOWN_PROVIDER', detail: expect.stringContaining('"nosuch"') });
  });

  // Found by the fuzz suite: the detail quoted whatever the path held, a script tag included.
  it('never quotes anything else', () => {
    const detail = String(Problems.unknownProvider('<script>alert(1)</script>').body('/x').detail);
    expect(detail).not.toContain('<script>');
    expect(detail).toContain('by that name');
  });
});
