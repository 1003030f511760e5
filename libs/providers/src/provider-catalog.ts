import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { ProviderDefinition } from './provider.schema';
import builtIn from './providers.json';

export class UnknownProviderError extends Error {
  readonly code = 'UNKNOWN_PROVIDER';
  constructor(readonly provider: string) {
    super(`unknown provider "${provider}"`);
    this.name = UnknownProviderError.name;
  }
}

export class InvalidCatalogError extends Error {
  readonly code = 'INVALID_PROVIDER_CATALOG';
  constructor(readonly problems: string[]) {
    super(`invalid provider catalog:\n  - ${problems.join('\n  - ')}`);
    this.name = InvalidCatalogError.name;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; arrays and scalars replace. An overlay can point one endpoint elsewhere. */
function deepMerge(base: Json, overlay: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    out[key] = isObject(value) && isObject(base[key]) ? deepMerge(base[key] as Json, value) : value;
  }
  return out;
}

function flatten(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((e) => {
    const path = `${prefix}.${e.property}`;
    const own = e.constraints ? [`${path}: ${Object.values(e.constraints).join('; ')}`] : [];
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/** Rules across fields that a per-field decorator cannot say. */
function crossFieldProblems(p: ProviderDefinition): string[] {
  const problems: string[] = [];
  if (p.authModel === 'oauth2' && !p.oauth2) problems.push(`${p.key}: authModel oauth2 needs an oauth2 block`);
  if (p.authModel === 'api_key' && !p.apiKey) problems.push(`${p.key}: authModel api_key needs an apiKey block`);
  if (p.oauth2) {
    const known = new Set(p.oauth2.scopes.map((s) => s.name));
    for (const scope of p.oauth2.defaultScopes) {
      if (!known.has(scope)) problems.push(`${p.key}: default scope "${scope}" is not among its scopes`);
    }
    const reserved = new Set(['state', 'redirect_uri', 'client_id', 'response_type', 'scope', 'code_challenge', 'code_challenge_method']);
    for (const param of p.oauth2.sessionParams ?? []) {
      if (reserved.has(param.name)) problems.push(`${p.key}: session parameter "${param.name}" is set by the flow itself`);
      try {
        new RegExp(param.pattern);
      } catch {
        problems.push(`${p.key}: session parameter "${param.name}" has an invalid pattern`);
      }
    }
    if (p.oauth2.refresh.rotatesRefreshToken && !p.oauth2.refresh.supported) {
      problems.push(`${p.key}: a provider that rotates refresh tokens must support refresh`);
    }
  }
  return problems;
}

/** Validate raw catalog data (built-in plus overlay) into provider definitions. */
export function parseCatalog(raw: Json): ProviderDefinition[] {
  const problems: string[] = [];
  const providers: ProviderDefinition[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!isObject(value)) {
      problems.push(`${key}: must be an object`);
      continue;
    }
    const definition = plainToInstance(ProviderDefinition, { ...value, key });
    const errors = validateSync(definition, { whitelist: true, forbidNonWhitelisted: true });
    problems.push(...flatten(errors, key));
    if (!errors.length) problems.push(...crossFieldProblems(definition));
    providers.push(definition);
  }
  if (problems.length) throw new InvalidCatalogError(problems);
  return providers;
}

/** The providers Authpipe can connect: built-in data, optionally overlaid by an operator's file. */
export class ProviderCatalog {
  private readonly byKey: Map<string, ProviderDefinition>;

  constructor(providers: ProviderDefinition[]) {
    this.byKey = new Map(providers.map((p) => [p.key, p]));
  }

  /**
   * Load the built-in catalog and merge an overlay (JSON, same shape, partial) from `overlayFile` if given:
   * tests point providers at local authorization servers, operators at sandboxes.
   */
  static load(overlayFile?: string): ProviderCatalog {
    let raw = builtIn as unknown as Json;
    if (overlayFile) {
      let overlay: unknown;
      try {
        overlay = JSON.parse(readFileSync(overlayFile, 'utf8'));
      } catch (err) {
        throw new InvalidCatalogError([`AUTHPIPE_PROVIDERS_FILE ${overlayFile}: ${(err as Error).message}`]);
      }
      if (!isObject(overlay)) throw new InvalidCatalogError([`AUTHPIPE_PROVIDERS_FILE ${overlayFile}: must hold a JSON object`]);
      raw = deepMerge(raw, overlay);
    }
    return new ProviderCatalog(parseCatalog(raw));
  }

  get(key: string): ProviderDefinition {
    const provider = this.byKey.get(key);
    if (!provider) throw new UnknownProviderError(key);
    return provider;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  list(): ProviderDefinition[] {
    return [...this.byKey.values()];
  }
}
