import { devices } from '@playwright/test';

/**
 * The one Chromium project both Playwright configs use: Debian's /usr/bin/chromium (Playwright
 * downloads no browser here) with the flags the machine needs.
 */
export const chromium = {
  name: 'chromium',
  use: {
    ...devices['Desktop Chrome'],
    // Times show in the browser's zone: tests that do not pick one see UTC on any machine.
    timezoneId: 'UTC',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
};
