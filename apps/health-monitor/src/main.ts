import { loadConfig } from '@authpipe/config';
import { runMain, startNatsApp } from '@authpipe/platform';
import { HealthMonitorConfig } from './health-monitor.config';
import { HealthMonitorModule } from './health-monitor.module';

runMain('health-monitor', async () => {
  const config = loadConfig(HealthMonitorConfig);
  await startNatsApp(HealthMonitorModule.forConfig(config), 'health-monitor', config);
});
