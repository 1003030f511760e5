import { loadConfig } from '@authpipe/config';
import { runMain, serveHealth, startNatsApp } from '@authpipe/platform';
import { RefresherConfig } from './refresher.config';
import { RefresherModule } from './refresher.module';

runMain('refresher', async () => {
  const config = loadConfig(RefresherConfig);
  const app = await startNatsApp(RefresherModule.forConfig(config), 'refresher', config);
  await serveHealth(app, 'refresher', config);
  return app;
});
