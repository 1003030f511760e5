import { loadConfig } from '@authpipe/config';
import { ProblemFilter, problemValidationPipe, serveOpenApi, trustProxies, useStrictRequestParsing } from '@authpipe/http';
import { runMain, startHttpApp } from '@authpipe/platform';
import { GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';
import { gatewayOpenApi } from './openapi/gateway.openapi';

runMain('oauth-gateway', async () => {
  const config = loadConfig(GatewayConfig);
  return startHttpApp(GatewayModule.forConfig(config), 'oauth-gateway', config, config.GATEWAY_PORT, config.AUTHPIPE_BIND_HOST, (http) => {
    trustProxies(http, config.AUTHPIPE_TRUST_PROXY_HOPS);
    useStrictRequestParsing(http);
    http.useGlobalFilters(new ProblemFilter());
    http.useGlobalPipes(problemValidationPipe());
    serveOpenApi(http, gatewayOpenApi);
  });
});
