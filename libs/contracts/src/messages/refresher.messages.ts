import { IsIn, Matches } from 'class-validator';
import { CONNECTION_ID_PATTERN, TENANT_ID_PATTERN } from '../ids';
import { RpcRequest } from './common';

/** Refresh one connection now if it is inside its refresh margin (single-flight with scheduled refreshes). */
export class RefreshConnectionRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @IsIn(['on_demand', 'scheduled']) trigger: 'on_demand' | 'scheduled';
}
export interface RefreshConnectionReply {
  /** `refreshed`: a new access token is stored; `fresh`: no refresh was needed (or another worker just did it). */
  outcome: 'refreshed' | 'fresh';
  credentialVersion: number;
  expiresAt: string | null;
}
