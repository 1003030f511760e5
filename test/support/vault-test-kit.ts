import { randomBytes } from 'node:crypto';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { connectionIdFor, healthSubject, StoreCredentialRequest } from '@authpipe/contracts';
import { RpcError } from '@authpipe/messaging';

/**
 * What the vault suites share: fresh secrets that are remembered (none may later appear in a log, a stored value or
 * an error), the error messages vault answered with, credential requests, and waiting until a vault answers.
 */
export function vaultTestKit(masterKeys: string[]) {
  const plaintexts = new Set<string>(masterKeys);
  const errorMessages: string[] = [];
  const secret = (label: string): string => {
    const value = `${label}-${randomBytes(12).toString('base64url')}`;
    plaintexts.add(value);
    return value;
  };
  return {
    plaintexts,
    errorMessages,
    secret,
    newTenant: (): string => `org_${randomBytes(5).toString('hex')}`,

    /** The RpcError a request fails with (its message is kept for the no-secret check). */
    async failure(request: Promise<unknown>): Promise<RpcError> {
      const outcome = await request.then(
        () => null,
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(RpcError);
      errorMessages.push((outcome as RpcError).message);
      return outcome as RpcError;
    },

    oauthCredential(tenantId: string, user = 'user-1', extra: Partial<StoreCredentialRequest> = {}): StoreCredentialRequest {
      return {
        tenantId,
        connectionId: connectionIdFor(tenantId, 'gmail', user),
        provider: 'gmail',
        credential: {
          type: 'oauth2',
          accessToken: secret('access'),
          refreshToken: secret('refresh'),
          tokenType: 'Bearer',
          expiresAt: '2030-01-01T00:00:00.000Z',
          scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
        },
        ...extra,
      };
    },

    /** listen() resolves before nats-server has seen the subscriptions: wait until vault answers its health subject. */
    async untilAnswering(client: ClientProxy): Promise<void> {
      for (let attempt = 0; ; attempt++) {
        const answered = await firstValueFrom(client.send(healthSubject('vault'), {})).then(
          () => true,
          () => false,
        );
        if (answered) return;
        if (attempt === 100) throw new Error('vault did not answer on NATS');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
