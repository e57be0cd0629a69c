import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { button, expectState, onRealCluster, openAndWait, row } from './helpers';

const cluster = path.resolve(__dirname, '..', '..', 'dev', 'cluster');

test('with a controller at work there is no banner and no row waits', async ({ page }) => {
  await openAndWait(page);
  await expect(page.getByTestId('vm-row').first()).toBeVisible();
  await expect(page.getByTestId('controller-banner')).toHaveCount(0);
  await expect(page.getByTestId('waiting-for-controller')).toHaveCount(0);
});

test.describe('no controller running', () => {
  // Only against the local control plane: stops and starts its controller through ./dev/cluster
  // (./dev/test exports WUKONG_DEV_DIR and the ports of its test instance).
  test.skip(!onRealCluster, 'needs the local control plane (WUKONG_E2E_BACKEND=kubernetes)');

  test('the page says so, the request waits instead of spinning, and is carried out once one starts', async ({ page }) => {
    test.setTimeout(120_000);
    await openAndWait(page);
    const banner = page.getByTestId('controller-banner');
    const r = row(page, 'team-b', 'edge-01');
    await expectState(r, 'Stopped');
    execFileSync(cluster, ['stop-controller'], { stdio: 'ignore' });
    try {
      // It gives up its Lease on the way out: the page knows at once, with no reload.
      await expect(banner).toHaveAttribute('data-reason', 'absent', { timeout: 20_000 });
      await button(r, 'start').click();
      await expect(r.getByTestId('waiting-for-controller')).toBeVisible();
      await expect(r).toHaveAttribute('data-waiting', 'true');
      await expectState(r, 'Stopped');
    } finally {
      execFileSync(cluster, ['start-controller'], { stdio: 'ignore' });
    }
    await expect(banner).toHaveCount(0, { timeout: 30_000 });
    await expectState(r, 'Running', 30_000);
    await expect(r.getByTestId('waiting-for-controller')).toHaveCount(0);
  });
});
