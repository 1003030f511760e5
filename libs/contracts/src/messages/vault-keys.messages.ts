import { Matches } from 'class-validator';
import { TENANT_ID_PATTERN } from '../ids';
import { RpcRequest } from './common';

/*
 * Key management in vault: tenant data key rotation, the background rewrap, and crypto-shredding of a tenant.
 * Operators reach these through query-api's admin routes (which alone may send them, see deploy/).
 */

/** Add a new data key version for a tenant and make it active; older versions keep decrypting. */
export class RotateTenantKeyRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
}
export interface RotateTenantKeyReply {
  tenantId: string;
  activeVersion: number;
}

/** Start (or resume) the background rewrap: every data key under the active master key, every secret under its tenant's active data key. */
export class StartRewrapRequest extends RpcRequest {}
export class RewrapStatusRequest extends RpcRequest {}
export interface RewrapStatusReply {
  state: 'idle' | 'running' | 'done' | 'failed';
  /** The master key version data keys are being moved to. */
  masterKeyVersion: string;
  startedAt?: string;
  finishedAt?: string;
  /** Records seen so far and in all (total is known once the scan has listed the keys). */
  processed: number;
  total: number;
  /** Records rewritten (the rest were already current). */
  rewrapped: number;
  /** Records that could not be rewrapped (left as they were; a later run retries them). */
  failed: number;
  error?: string;
}

/** Crypto-shredding: destroy the tenant's data keys; every ciphertext of the tenant, wherever it is kept, becomes unreadable. */
export class EraseTenantRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
}
export interface EraseTenantReply {
  tenantId: string;
  erasedAt: string;
}
