import { Body, Controller, Get, HttpCode, Logger, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { correlationIdOf } from '@authpipe/http';
import { ApiKeyConnectService, ApiKeyRejectedError, ProviderUnavailableError } from '../api-key/api-key-connect.service';
import { renderApiKeyForm } from './api-key-form-page';
import { ConnectFlowService } from './connect-flow.service';
import { ConnectFlowError } from './flow-errors';
import { ConnectOutcome, renderResultPage } from './result-page';

/** The browser-facing steps: every answer is a page (or a redirect), never JSON, and never a stack trace. */
@Controller('v1')
export class ConnectFlowController {
  private readonly logger = new Logger(ConnectFlowController.name);

  constructor(
    private readonly flow: ConnectFlowService,
    private readonly apiKeys: ApiKeyConnectService,
  ) {}

  @Get('connect/start')
  async start(@Query('session') session: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (typeof session !== 'string' || !/^[A-Za-z0-9_-]{20,100}$/.test(session)) {
      return this.page(res, 400, { status: 'error', reason: 'invalid_session', message: 'This connect link is not valid. Start again from the app.' });
    }
    try {
      const next = await this.flow.start(session, correlationIdOf(req));
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      if ('redirect' in next) return res.redirect(302, next.redirect);
      const { html, csp } = renderApiKeyForm({
        providerName: next.apiKeyForm.displayName,
        requiresUsername: next.apiKeyForm.apiKey!.requiresUsername,
        sessionToken: session,
      });
      res.status(200).setHeader('Content-Security-Policy', csp);
      res.type('html').send(html);
    } catch (err) {
      this.failure(res, err);
    }
  }

  /** The API-key form's submission: spend the session, verify the key at the provider, store it, show the result. */
  @Post('connect/api-key')
  @HttpCode(200)
  async submitApiKey(@Body() body: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { session, username, apiKey } = body ?? {};
    if (typeof session !== 'string' || !/^[A-Za-z0-9_-]{20,100}$/.test(session)) {
      return this.page(res, 400, { status: 'error', reason: 'invalid_session', message: 'This connect link is not valid. Start again from the app.' });
    }
    let returnOrigin: string | undefined;
    try {
      const record = await this.flow.takeApiKeySession(session);
      returnOrigin = record.returnOrigin;
      if (typeof apiKey !== 'string' || !apiKey || apiKey.length > 4096 || (username !== undefined && (typeof username !== 'string' || username.length > 512))) {
        return this.page(res, 400, { status: 'error', reason: 'invalid_request', message: 'The form was not filled in correctly. Start again from the app.' }, returnOrigin);
      }
      const result = await this.apiKeys.connect({
        tenantId: record.tenantId,
        provider: record.provider,
        userId: record.userId,
        ...(username ? { username } : {}),
        apiKey,
        correlationId: correlationIdOf(req),
      });
      this.page(res, 200, { status: 'success', connectionId: result.connectionId, provider: result.provider, userId: result.userId, scopes: [] }, returnOrigin);
    } catch (err) {
      if (err instanceof ApiKeyRejectedError) {
        return this.page(res, 400, { status: 'error', reason: 'verification_failed', message: `${err.message}. Nothing was stored.` }, returnOrigin);
      }
      if (err instanceof ProviderUnavailableError) {
        return this.page(res, err.httpStatus, { status: 'error', reason: err.code.toLowerCase(), message: `${err.message}. Nothing was stored; try again.` }, returnOrigin);
      }
      this.failure(res, err);
    }
  }

  @Get('oauth/callback/:provider')
  async callback(@Param('provider') provider: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    try {
      const result = await this.flow.complete(provider, new URLSearchParams(query));
      this.page(
        res,
        200,
        { status: 'success', connectionId: result.connectionId, provider: result.provider, userId: result.userId, scopes: result.scopes, metadata: result.metadata },
        result.returnOrigin,
      );
    } catch (err) {
      this.failure(res, err);
    }
  }

  private failure(res: Response, err: unknown): void {
    if (err instanceof ConnectFlowError) {
      return this.page(res, err.status, { status: 'error', reason: err.reason, message: err.userMessage }, err.returnOrigin);
    }
    this.logger.error(`connect flow failed: ${(err as Error)?.name ?? 'error'}`, (err as Error)?.stack?.split('\n').slice(0, 3).join(' | '));
    this.page(res, 503, { status: 'error', reason: 'unavailable', message: 'Something went wrong on our side. Nothing was connected. Try again in a moment.' });
  }

  private page(res: Response, status: number, outcome: ConnectOutcome, returnOrigin?: string): void {
    const { html, csp } = renderResultPage(outcome, returnOrigin);
    res.status(status).setHeader('Content-Security-Policy', csp);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.type('html').send(html);
  }
}
