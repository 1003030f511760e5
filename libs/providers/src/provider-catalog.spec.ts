import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidCatalogError, parseCatalog, ProviderCatalog, UnknownProviderError } from './provider-catalog';
import builtIn from './providers.json';

const overlayFile = (content: unknown): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'catalog-')), 'providers.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
};

describe('provider catalog', () => {
  it('validates the built-in catalog (the CI check of providers.json)', () => {
    const catalog = ProviderCatalog.load();
    expect(catalog.list().map((p) => p.key).sort()).toEqual(['aircall', 'clicksend', 'dialpad', 'discord', 'gmail']);
  });

  it('describes the five Gmail scopes', () => {
    const gmail = ProviderCatalog.load().get('gmail');
    const names = gmail.oauth2!.scopes.map((s) => s.name.replace('https://www.googleapis.com/auth/', ''));
    expect(names).toEqual(expect.arrayContaining(['gmail.readonly', 'gmail.send', 'gmail.modify', 'gmail.compose', 'gmail.labels']));
    expect(gmail.oauth2!.scopes.every((s) => s.description.length > 0)).toBe(true);
  });

  it('keeps quirks as data', () => {
    const catalog = ProviderCatalog.load();
    expect(catalog.get('gmail').oauth2!.authorizationParams).toMatchObject({ access_type: 'offline', prompt: 'consent' });
    expect(catalog.get('discord').oauth2!.refresh.rotatesRefreshToken).toBe(true);
    expect(catalog.get('aircall').oauth2!.refresh.supported).toBe(false);
    expect(catalog.get('clicksend').authModel).toBe('api_key');
  });

  it('merges an overlay file over the built-in data', () => {
    const file = overlayFile({ gmail: { oauth2: { tokenUrl: 'http://127.0.0.1:9999/token' } } });
    const gmail = ProviderCatalog.load(file).get('gmail');
    expect(gmail.oauth2!.tokenUrl).toBe('http://127.0.0.1:9999/token');
    expect(gmail.oauth2!.authorizationUrl).toBe('https://accounts.google.com/o/oauth2/v2/auth');
  });

  it('rejects an overlay that breaks the schema, naming the field', () => {
    const file = overlayFile({ gmail: { oauth2: { pkce: 'plain' } } });
    expect(() => ProviderCatalog.load(file)).toThrow(/gmail\.oauth2\.pkce/);
  });

  it('rejects unknown fields and cross-field contradictions', () => {
    const raw = JSON.parse(JSON.stringify(builtIn));
    raw.gmail.oauth2.defaultScopes = ['not-a-listed-scope'];
    raw.discord.surprise = true;
    expect(() => parseCatalog(raw)).toThrow(InvalidCatalogError);
    try {
      parseCatalog(raw);
    } catch (err) {
      expect((err as Error).message).toMatch(/not-a-listed-scope/);
      expect((err as Error).message).toMatch(/discord\.surprise/);
    }
  });

  it('answers an unknown provider with a typed error', () => {
    expect(() => ProviderCatalog.load().get('myspace')).toThrow(UnknownProviderError);
  });
});
