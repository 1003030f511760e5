import { loadConfig } from '@authpipe/config';
import { ProblemFilter, problemValidationPipe, serveOpenApi, trustProxies, useStrictRequestParsing } from '@authpipe/http';
import { runMain, startHttpApp } from '@authpipe/platform';
import { queryApiOpenApi } from './openapi/query-api.openapi';
import { QueryApiConfig } from './query-api.config';
import { QueryApiModule } from './query-api.module';

runMain('query-api', async () => {
  const config = loadConfig(QueryApiConfig);
  return startHttpApp(QueryApiModule.forConfig(config), 'query-api', config, config.QUERY_API_PORT, config.AUTHPIPE_BIND_HOST, (http) => {
    trustProxies(http, config.AUTHPIPE_TRUST_PROXY_HOPS);
    useStrictRequestParsing(http);
    http.useGlobalFilters(new ProblemFilter());
    http.useGlobalPipes(problemValidationPipe());
    serveOpenApi(http, queryApiOpenApi);
  });
});
