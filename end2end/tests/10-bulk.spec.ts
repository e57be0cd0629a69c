import { expect, test } from '@playwright/test';
import { openAndWait, rows } from './helpers';

test('a bulk action lists what became of every selected VM, refusals with their reason', async ({ page }) => {
  await openAndWait(page);
  // Two VMs of team-b, one that can be suspended and one that cannot: tick them, ask to suspend,
  // confirm. (A bulk button none of the ticked VMs can take is disabled, with the reason.)
  await page.getByTestId('namespace-filter').selectOption('team-b');
  const can = (yes: boolean) =>
    page.locator(`tr[data-testid="vm-row"]:has(button[data-action="suspend"]${yes ? ':not([disabled])' : '[disabled]'})`).first();
  await can(true).locator('[data-testid="select-row"]').check();
  await can(false).locator('[data-testid="select-row"]').check();
  await expect(page.getByTestId('bulk-count')).toContainText('2 selected');
  await page.locator('button[data-bulk-action="suspend"]').click();
  const d = page.getByTestId('bulk-dialog');
  await expect(d).toContainText('Suspend 2 VMs?');
  await d.getByTestId('bulk-ok').click();
  await expect(d.getByTestId('bulk-summary')).toBeVisible();
  await expect(d.locator('[data-testid="bulk-result"]')).toHaveCount(2);
  // Whatever the states were, each VM has its own line; a refusal says why.
  const refused = d.locator('[data-testid="bulk-result"][data-accepted="false"]');
  for (let i = 0; i < (await refused.count()); i++) {
    await expect(refused.nth(i)).toContainText('cannot suspend');
  }
  await d.getByTestId('bulk-close').click();
  await expect(d).toBeHidden();

  // "All matching the filter": every VM the filter shows.
  await page.getByTestId('search').fill('api');
  const shown = await rows(page).count();
  await page.getByTestId('bulk-select-matching').click();
  await expect(page.getByTestId('bulk-count')).toContainText(`(${shown})`);
  await page.locator('button[data-bulk-action="restart"]').click();
  await d.getByTestId('bulk-ok').click();
  await expect(d.locator('[data-testid="bulk-result"]')).toHaveCount(shown);
  await d.getByTestId('bulk-close').click();
});
