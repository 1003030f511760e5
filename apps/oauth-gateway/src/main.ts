import { loadConfig } from '@authpipe/config';
import { ProblemFilter, problemValidationPipe } from '@authpipe/http';
import { runMain, startHttpApp } from '@authpipe/platform';
import { GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';

runMain('oauth-gateway', async () => {
  const config = loadConfig(GatewayConfig);
  await startHttpApp(GatewayModule.forConfig(config), 'oauth-gateway', config, config.GATEWAY_PORT, config.AUTHPIPE_BIND_HOST, (http) => {
    http.useGlobalFilters(new ProblemFilter());
    http.useGlobalPipes(problemValidationPipe());
  });
});
