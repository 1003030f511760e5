import { loadConfig } from '@authpipe/config';
import { runMain, startNatsApp } from '@authpipe/platform';
import { RefresherConfig } from './refresher.config';
import { RefresherModule } from './refresher.module';

runMain('refresher', async () => {
  const config = loadConfig(RefresherConfig);
  await startNatsApp(RefresherModule.forConfig(config), 'refresher', config);
});
