import { expect, test } from '@playwright/test';
import { badge, expectState, openAndWait, row } from './helpers';

// A VM no other test acts on: Running, Always.
const NS = 'ml-lab';
const NAME = 'infer-01';

test('a graceful stop with a grace period, by keyboard only: focus stays in the dialog and comes back, the change is announced', async ({ page }) => {
  await openAndWait(page, `/?namespace=${NS}`);
  const r = row(page, NS, NAME);
  await expectState(r, 'Running');
  // Tab to the row's Stop button (no mouse): from the top of the page.
  const stop = r.locator('button[data-action="stop"]');
  await page.locator('body').focus();
  for (let i = 0; i < 200 && !(await stop.evaluate((b) => b === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await expect(stop).toBeFocused();
  await page.keyboard.press('Enter');
  const dialog = page.getByTestId('confirm');
  await expect(dialog).toBeVisible();
  // Focus is in the dialog, and Tab and Shift+Tab keep it there.
  await expect(dialog.locator(':focus')).toHaveCount(1);
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    await expect(dialog.locator(':focus')).toHaveCount(1);
  }
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Shift+Tab');
    await expect(dialog.locator(':focus')).toHaveCount(1);
  }
  // Escape closes it and gives focus back to Stop.
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(stop).toBeFocused();
  // Again, now with a grace period typed in, confirmed with the keyboard.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  const grace = page.getByTestId('grace-period');
  while (!(await grace.evaluate((e) => e === document.activeElement))) await page.keyboard.press('Tab');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('45');
  while (!(await page.getByTestId('confirm-ok').evaluate((e) => e === document.activeElement))) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  await expect(badge(r)).toHaveAttribute('data-state', /Stopping|Stopped/);
  // The live region says what became of the VM the person acted on.
  await expect(page.getByTestId('announcer')).toHaveText(new RegExp(`^${NAME}: (Stopping|Stopped)$`));
  await expectState(r, 'Stopped', 60_000);
  await expect(page.getByTestId('announcer')).toHaveText(`${NAME}: Stopped`);
  // Focus came back to the row (Stop is disabled now: its name link).
  await expect(r.locator(':focus')).toHaveCount(1);
});

test.describe('at 375 px', () => {
  test.use({ viewport: { width: 375, height: 740 } });

  test('the list fits: no sideways scrolling, every button of a row on screen and usable', async ({ page }) => {
    await openAndWait(page, '/?namespace=team-a');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(375);
    const r = row(page, 'team-a', 'web-02');
    for (const b of await r.locator('button').all()) {
      const box = await b.boundingBox();
      expect(box, 'a button with a box').not.toBeNull();
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(375);
    }
    await r.getByTestId('history-button').click();
    await expect(page.getByTestId('history')).toBeVisible();
    await page.keyboard.press('Escape');
    await expect(page.getByTestId('history')).toBeHidden();
    await expect(r.getByTestId('history-button')).toBeFocused();
  });
});
