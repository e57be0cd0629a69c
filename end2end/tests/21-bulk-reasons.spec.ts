import { expect, test } from '@playwright/test';
import { openAndWait } from './helpers';

/** Rows whose own Start button is enabled (or not). */
const startable = (page: import('@playwright/test').Page, can: boolean) =>
  page.locator(`tr[data-testid="vm-row"]:has(button[data-action="start"]${can ? ':not([disabled])' : '[disabled]'})`);

test('the bulk bar says how many ticked VMs cannot take an action and why; all of them: disabled', async ({ page }) => {
  await openAndWait(page);
  const running = startable(page, false).first();
  const stopped = startable(page, true).first();
  const start = page.locator('button[data-bulk-action="start"]');
  await running.getByTestId('select-row').check();
  // Only running VMs ticked: nothing to start, and the button says why.
  await expect(start).toBeDisabled();
  await expect(start).toHaveAttribute('title', /^None of the 1 selected VMs can start: .+ \(1\)$/);
  await expect(page.locator('[data-testid="bulk-reason"][data-for="start"]')).toHaveText(/^None of the 1 selected/);
  await expect(start).toHaveAttribute('aria-describedby', 'bulk-why-start');
  // One that can start too: the button works, and says what will be refused.
  await stopped.getByTestId('select-row').check();
  await expect(start).toBeEnabled();
  await expect(start).toHaveAttribute('title', /^1 of the 2 VMs cannot start and will be refused: .+ \(1\)$/);
  await start.click();
  const d = page.getByTestId('bulk-dialog');
  await expect(d.getByTestId('bulk-held')).toContainText('1 of the 2 VMs cannot start');
  await d.getByTestId('bulk-cancel').click();
  await page.getByTestId('bulk-clear').click();
  await expect(start).not.toHaveAttribute('title', /.+/);
});

test('for "all matching the filter" the server counts what would be refused before the confirmation', async ({ page }) => {
  await openAndWait(page, '/?namespace=team-a');
  const rows = page.locator('tr[data-testid="vm-row"]');
  const total = await rows.count();
  const held = await startable(page, false).count();
  await page.getByTestId('bulk-select-matching').click();
  await page.locator('button[data-bulk-action="start"]').click();
  const d = page.getByTestId('bulk-dialog');
  await expect(d).toContainText(`Start ${total} VMs?`);
  await expect(d.getByTestId('bulk-held')).toContainText(`${held} of the ${total} VMs cannot start and will be refused`);
  await d.getByTestId('bulk-cancel').click();
  await expect(d).toBeHidden();
});
