import { expect, test } from '@playwright/test';
import { badge, button, onRealCluster, openAndWait } from './helpers';

test('a VM\'s history shows the request just made, who made it and what became of it', async ({ page }) => {
  await openAndWait(page);
  const r = page
    .locator('tr[data-testid="vm-row"]:has([data-state="Running"]):has(button[data-action="restart"]:enabled)')
    .first();
  const [ns, name] = [await r.getAttribute('data-namespace'), await r.getAttribute('data-name')];
  const row = page.locator(`tr[data-testid="vm-row"][data-namespace="${ns}"][data-name="${name}"]`);
  await button(row, 'restart').click();
  await expect(badge(row)).toHaveAttribute('data-state', /Restarting|Running/);

  await row.getByTestId('history-button').click();
  const history = page.getByTestId('history');
  await expect(history).toBeVisible();
  const entry = history.locator('[data-testid="history-entry"][data-outcome="Accepted"]').first();
  await expect(entry).toBeVisible({ timeout: 15_000 });
  await expect(entry).toContainText('restart');
  // Without sign-in the console itself is the requester: in the sandbox it says so; on a cluster it
  // is named as the cluster knows the console's own account (here the admin kubeconfig's user).
  if (onRealCluster) {
    await expect(entry.getByTestId('history-by')).toHaveText(/\S/);
  } else {
    await expect(entry.getByTestId('history-by')).toContainText('wukong-console (no sign-in)');
  }
  await history.getByTestId('history-close').click();
  await expect(history).toBeHidden();
});
