import { loadConfig } from '@authpipe/config';
import { ProblemFilter, problemValidationPipe } from '@authpipe/http';
import { runMain, startHttpApp } from '@authpipe/platform';
import { QueryApiConfig } from './query-api.config';
import { QueryApiModule } from './query-api.module';

runMain('query-api', async () => {
  const config = loadConfig(QueryApiConfig);
  await startHttpApp(QueryApiModule.forConfig(config), 'query-api', config, config.QUERY_API_PORT, config.AUTHPIPE_BIND_HOST, (http) => {
    http.useGlobalFilters(new ProblemFilter());
    http.useGlobalPipes(problemValidationPipe());
  });
});
