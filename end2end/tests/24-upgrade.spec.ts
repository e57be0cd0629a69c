import AxeBuilder from '@axe-core/playwright';
import { expect, test, type WebSocketRoute } from '@playwright/test';
import { expectState, openAndWait, row } from './helpers';

// A tab left open while the console is upgraded keeps running the WASM it loaded, against a
// server whose answers and split-off pieces may have changed. The page names its build
// (`<meta name="wukong-build">`) and every live socket names the build that answers it: when
// they differ, the page asks to be reloaded. The upgrade is played by the test: it drops the
// page's socket (as a rollout does) and, on the socket the page opens again, names another build.
for (const [locale, says] of [
  ['en-US', 'now serves this page'],
  ['zh-CN', '控制台已升级'],
] as const) {
  test.describe(locale, () => {
    test.use({ locale });
    test('a tab left open across an upgrade asks to be reloaded, and the reload clears it', async ({ page }) => {
      let upgraded = false;
      const sockets: WebSocketRoute[] = [];
      await page.routeWebSocket(/\/live/, (ws) => {
        sockets.push(ws);
        const server = ws.connectToServer();
        server.onMessage((message) => {
          const hello = typeof message === 'string' && message.startsWith('{"hello"');
          ws.send(upgraded && hello ? JSON.stringify({ hello: { build: 'a-newer-build' } }) : message);
        });
      });
      await openAndWait(page);
      const build = await page.locator('meta[name="wukong-build"]').getAttribute('content');
      // The suite runs the release build, whose file names carry their hashes: it names its build.
      expect(build).toBeTruthy();
      await expect(page.getByTestId('live-status')).toHaveAttribute('data-live', 'connected');
      const banner = page.getByTestId('upgrade-banner');
      // The socket of the page's own build says so first: no banner.
      await expect(banner).toHaveCount(0);

      // A rollout: the page's socket is closed (1001) and reconnects, to whichever build answers.
      const reconnect = async (toAnotherBuild: boolean) => {
        upgraded = toAnotherBuild;
        for (const ws of sockets.splice(0)) {
          await ws.close({ code: 1001, reason: 'the console is shutting down' });
        }
      };
      await reconnect(true);
      await expect(banner).toBeVisible();
      await expect(banner).toContainText(says);
      const axe = await new AxeBuilder({ page }).include('[data-testid="upgrade-banner"]').analyze();
      expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
      // Nothing else is taken away meanwhile: the list is still live.
      await expect(page.getByTestId('live-status')).toHaveAttribute('data-live', 'connected');
      await expectState(row(page, 'team-a', 'web-01'), /.+/);

      // Back on the page's own build (an old replica during a rollout, or a rollback): it goes.
      await reconnect(false);
      await expect(banner).toHaveCount(0);
      await reconnect(true);
      await expect(banner).toBeVisible();

      // The reload loads the new build's page, whose socket names the same build: no banner.
      upgraded = false;
      await Promise.all([page.waitForEvent('framenavigated'), page.getByTestId('upgrade-reload').click()]);
      await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
      await expect(page.getByTestId('live-status')).toHaveAttribute('data-live', 'connected');
      await expect(banner).toHaveCount(0);
    });
  });
}
