import { Controller, Get, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { correlationIdOf } from '@authpipe/http';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { AdminGuard } from './admin.guard';

/**
 * The background rewrap after a master key or data key rotation: start (or resume) it, and watch its progress.
 * `npm run authpipe -- vault rewrap` drives these and draws a progress bar.
 */
@Controller('v1/admin/vault/rewrap')
@UseGuards(AdminGuard)
export class VaultAdminController {
  constructor(@Inject(RPC_CLIENT) private readonly rpc: RpcClient) {}

  @Post()
  @HttpCode(202)
  start(@Req() req: Request) {
    return this.rpc.request('vaultStartRewrap', { correlationId: correlationIdOf(req) });
  }

  @Get()
  status(@Req() req: Request) {
    return this.rpc.request('vaultRewrapStatus', { correlationId: correlationIdOf(req) });
  }
}
