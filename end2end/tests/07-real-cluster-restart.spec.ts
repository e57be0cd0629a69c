import { exec } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { button, expectState, onRealCluster, openAndWait, row } from './helpers';

// Only against the local control plane: restarts its kube-apiserver through ./dev/cluster
// (./dev/test exports WUKONG_DEV_DIR and the ports of its test instance).
test.skip(!onRealCluster, 'needs the local control plane (WUKONG_E2E_BACKEND=kubernetes)');

test('when the API server goes away the page says so, then catches up without a reload', async ({ page }) => {
  test.setTimeout(120_000);
  await openAndWait(page);
  const live = page.getByTestId('live-status');
  await expect(live).toHaveAttribute('data-live', 'connected');

  const script = path.resolve(__dirname, '..', '..', 'dev', 'cluster');
  const restarted = new Promise<void>((resolve, reject) =>
    exec(`"${script}" restart kube-apiserver 4`, (error) => (error ? reject(error) : resolve())),
  );
  await expect(live).toHaveAttribute('data-live', 'reconnecting', { timeout: 20_000 });
  await restarted;
  await expect(live).toHaveAttribute('data-live', 'connected', { timeout: 60_000 });

  // Same page, no reload: actions work and their effects stream in again.
  const r = row(page, 'team-b', 'worker-02');
  await expectState(r, 'Stopped');
  await button(r, 'start').click();
  await expectState(r, 'Running', 30_000);
});
