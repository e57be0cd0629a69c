import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { openAndWait, rows } from './helpers';

/** axe-core's serious and critical violations on the page as it is now, with where they are. */
async function serious(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes
      .slice(0, 12)
      .map((n) => `${n.target.join(' ')} ${JSON.stringify((n.any[0]?.data as object) ?? {})}`)
      .join(' | ')}`);
}

for (const [locale, colorScheme] of [
  ['en-US', 'light'],
  ['zh-CN', 'light'],
  ['en-US', 'dark'],
  ['zh-CN', 'dark'],
] as const) {
  test.describe(`axe, ${locale}, ${colorScheme}`, () => {
    test.use({ locale, colorScheme });

    test('the list, each dialog, the history and the bulk results have no serious violations', async ({ page }) => {
      test.setTimeout(180_000); // axe takes a few seconds a look, eight looks
      await openAndWait(page);
      expect(await serious(page), 'the list').toEqual([]);

      const stoppable = page.locator('tr[data-testid="vm-row"]:has(button[data-action="stop"]:not([disabled]))').first();
      await stoppable.locator('button[data-action="stop"]').click();
      await expect(page.getByTestId('confirm')).toBeVisible();
      expect(await serious(page), 'the stop dialog').toEqual([]);
      await page.getByTestId('confirm-cancel').click();
      // Force stop and delete: the same dialog with other words and a danger button.
      for (const action of ['force-stop', 'delete']) {
        await stoppable.locator(`button[data-action="${action}"]`).click();
        await expect(page.getByTestId('confirm')).toBeVisible();
        await expect(page.getByTestId('confirm-ok')).toHaveClass(/danger/);
        expect(await serious(page), `the ${action} dialog`).toEqual([]);
        await page.getByTestId('confirm-cancel').click();
        await expect(page.getByTestId('confirm')).toBeHidden();
      }

      await stoppable.getByTestId('history-button').click();
      await expect(page.getByTestId('history')).toBeVisible();
      expect(await serious(page), 'the history').toEqual([]);
      await page.getByTestId('history-close').click();

      await page.locator('tr[data-testid="vm-row"]:has(button[data-action="restart"]:not([disabled]))').first()
        .locator('[data-testid="select-row"]').check();
      await page.locator('button[data-bulk-action="restart"]').click();
      await expect(page.getByTestId('bulk-ok')).toBeVisible();
      expect(await serious(page), 'the bulk confirmation').toEqual([]);
      await page.getByTestId('bulk-ok').click();
      await expect(page.getByTestId('bulk-summary')).toBeVisible();
      expect(await serious(page), 'the bulk results').toEqual([]);
      await page.getByTestId('bulk-close').click();
    });

    test('the VM page has no serious violations', async ({ page }) => {
      await openAndWait(page, '/vm/team-a/web-01');
      await expect(page.getByTestId('yaml')).toBeVisible();
      expect(await serious(page)).toEqual([]);
    });

    test('the schedules page and its editor have no serious violations', async ({ page }) => {
      await openAndWait(page, '/schedules');
      await expect(page.getByTestId('schedules-page')).toBeVisible();
      expect(await serious(page), 'the schedules page').toEqual([]);
      await page.getByTestId('new-schedule').click();
      await expect(page.getByTestId('schedule-editor')).toBeVisible();
      expect(await serious(page), 'the schedule editor').toEqual([]);
    });

    test('the sign-in page has no serious violations', async ({ page }) => {
      await page.goto('/login?reason=idle');
      expect(await serious(page)).toEqual([]);
    });
  });
}

test.describe('dark', () => {
  test.use({ colorScheme: 'dark' });
  test('the page follows the system\'s dark setting', async ({ page }) => {
    await openAndWait(page);
    await expect(page.locator('html')).toHaveCSS('background-color', 'rgb(15, 19, 26)');
    await expect(page.locator('table.vms')).toHaveCSS('background-color', 'rgb(22, 27, 36)');
  });
});
