import { Controller, Get, Inject, Param } from '@nestjs/common';
import { PROVIDER_CATALOG } from '@authpipe/platform';
import { ProviderCatalog, ProviderDefinition } from '@authpipe/providers';
import { Problems } from '@authpipe/http';

/** What a team shows its users: providers, how they connect, and their scopes. Public catalog data only. */
const view = (p: ProviderDefinition) => ({
  key: p.key,
  displayName: p.displayName,
  authModel: p.authModel,
  ...(p.oauth2
    ? {
        scopes: p.oauth2.scopes,
        defaultScopes: p.oauth2.defaultScopes,
        pkce: p.oauth2.pkce,
        refresh: { supported: p.oauth2.refresh.supported, rotatesRefreshToken: p.oauth2.refresh.rotatesRefreshToken },
      }
    : {}),
  ...(p.apiKey ? { apiKey: { scheme: p.apiKey.scheme, requiresUsername: p.apiKey.requiresUsername } } : {}),
});

@Controller('v1/providers')
export class ProvidersController {
  constructor(@Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog) {}

  @Get()
  list() {
    return { items: this.catalog.list().map(view) };
  }

  @Get(':provider')
  get(@Param('provider') key: string) {
    if (!this.catalog.has(key)) throw Problems.unknownProvider(key);
    return view(this.catalog.get(key));
  }
}
