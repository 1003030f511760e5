import { loadConfig } from '@authpipe/config';
import { runMain, serveHealth, startNatsApp } from '@authpipe/platform';
import { HealthMonitorConfig } from './health-monitor.config';
import { HealthMonitorModule } from './health-monitor.module';

runMain('health-monitor', async () => {
  const config = loadConfig(HealthMonitorConfig);
  const app = await startNatsApp(HealthMonitorModule.forConfig(config), 'health-monitor', config);
  await serveHealth(app, 'health-monitor', config);
  return app;
});
