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

// Wider than a phone the list's columns have set widths (style/main.css): nothing may spill out of
// its cell, the buttons wrap inside theirs, and the Message column keeps room to be read.
for (const [width, locale] of [[1024, 'en-US'], [1280, 'en-US'], [1280, 'zh-CN'], [1920, 'en-US']] as const) {
  test.describe(`at ${width} px (${locale})`, () => {
    test.use({ viewport: { width, height: 900 }, locale });

    test('the list fits: no sideways scrolling, nothing spills out of its cell, the message has room', async ({ page }) => {
      await openAndWait(page, '/');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      const problems = await page.evaluate(() => {
        const found: string[] = [];
        const rows = Array.from(document.querySelectorAll('tr[data-testid="vm-row"]')).slice(0, 40);
        for (const tr of rows) {
          const name = tr.getAttribute('data-name');
          for (const cell of Array.from(tr.children) as HTMLElement[]) {
            const box = cell.getBoundingClientRect();
            // Every element inside lies within its cell (a wrapped word or button included).
            for (const inner of Array.from(cell.querySelectorAll('*')) as HTMLElement[]) {
              if (inner.classList.contains('sr-only')) continue;
              const b = inner.getBoundingClientRect();
              if (b.width === 0 && b.height === 0) continue;
              if (b.left < box.left - 0.5 || b.right > box.right + 0.5) {
                found.push(`${name}: ${inner.tagName.toLowerCase()} "${inner.textContent}" spills out of its cell (${b.left}–${b.right} in ${box.left}–${box.right})`);
              }
            }
            if (cell.classList.contains('message') && box.width < 120) {
              found.push(`${name}: the message column is ${box.width} px wide`);
            }
          }
        }
        return found;
      });
      expect(problems).toEqual([]);
    });
  });
}
