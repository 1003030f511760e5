import { RpcErrorCodes } from '@authpipe/contracts';
import type { ApiKeyAuthenticator, ParsedApiKey } from '@authpipe/http';
import { RpcClient, RpcError } from '@authpipe/messaging';

/** The gateway keeps no read models: it asks query-api, which owns the API keys, over NATS. */
export class RpcApiKeyAuthenticator implements ApiKeyAuthenticator {
  constructor(private readonly rpc: RpcClient) {}

  async authenticate(key: ParsedApiKey): Promise<{ tenantId: string; keyId: string } | null> {
    try {
      return await this.rpc.request('queryAuthenticateApiKey', key);
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.Unauthorized) return null;
      throw err;
    }
  }
}
