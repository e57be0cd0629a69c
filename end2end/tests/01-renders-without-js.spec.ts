import { expect, test } from '@playwright/test';
import { ACTIONS, STATES, badge, button, onRealCluster, row, rows } from './helpers';

// Runs early (file order; 00-kubevirt-states touches only kv-lab) so it sees the sandbox seed: 29 VMs.
test.use({ javaScriptEnabled: false });

test('the VM list is rendered server-side', async ({ page }) => {
  const res = await page.goto('/');
  expect(res?.status()).toBe(200);

  if (onRealCluster) {
    // Against the local control plane the page names the API server and shows no sandbox banner.
    await expect(page.getByTestId('sandbox-banner')).toHaveCount(0);
    await expect(page.getByTestId('cluster-name')).toContainText('127.0.0.1');
    // --auth=none on loopback: the page says that nobody signs in.
    await expect(page.getByTestId('open-banner')).toContainText('No sign-in');
  } else {
    await expect(page.getByTestId('sandbox-banner')).toBeVisible();
    await expect(page.getByTestId('sandbox-banner')).toContainText('Sandbox');
    await expect(page.getByTestId('sandbox-banner')).toContainText('No sign-in');
  }

  await expect(rows(page)).toHaveCount(29);
  const states = await rows(page).locator('[data-testid="vm-state"]').evaluateAll((els) =>
    els.map((el) => el.getAttribute('data-state')),
  );
  expect(states).toHaveLength(29);
  for (const s of states) expect(STATES).toContain(s);

  for (const action of ACTIONS) {
    await expect(rows(page).locator(`button[data-action="${action}"]`)).toHaveCount(29);
  }

  const web01 = row(page, 'team-a', 'web-01');
  await expect(badge(web01)).toHaveAttribute('data-state', 'Running');
  await expect(button(web01, 'stop')).toBeEnabled();
  await expect(button(web01, 'start')).toBeDisabled();
});
