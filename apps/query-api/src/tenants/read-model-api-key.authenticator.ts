import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ApiKeyAuthenticator, ParsedApiKey } from '@authpipe/http';
import { API_KEYS, ApiKeyView } from '@authpipe/projections';
import { READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';

/** API keys checked against the projected `api_keys` read model: found by key id, compared by hash in constant time. */
@Injectable()
export class ReadModelApiKeyAuthenticator implements ApiKeyAuthenticator {
  constructor(@Inject(READ_MODELS) private readonly store: ReadModelStore) {}

  async authenticate(key: ParsedApiKey): Promise<{ tenantId: string; keyId: string } | null> {
    const record = await this.store.collection<ApiKeyView>(API_KEYS).findOne({ _id: key.keyId });
    if (!record || record.status !== 'active') return null;
    const same = timingSafeEqual(Buffer.from(record.keyHash, 'hex'), Buffer.from(key.keyHash, 'hex'));
    return same ? { tenantId: record.tenantId, keyId: record._id } : null;
  }
}
