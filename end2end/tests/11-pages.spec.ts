import { expect, test } from '@playwright/test';
import { openAndWait, rows } from './helpers';

/** Names of the rows shown, in order. */
const shown = (page: import('@playwright/test').Page) =>
  rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-name')));

test('the server pages the list: next and previous, the address follows, a filter starts at page 1', async ({ page }) => {
  await openAndWait(page, '/?size=5');
  await expect(rows(page)).toHaveCount(5);
  // Other tests may have deleted a VM or two: read how many there are.
  await expect(page.getByTestId('page-range')).toHaveText(/^1–5 of \d+$/);
  const total = (await page.getByTestId('page-range').textContent())!.split(' of ')[1];
  await expect(page.getByTestId('page-previous')).toBeDisabled();
  const first = await shown(page);

  await page.getByTestId('page-next').click();
  await expect(page.getByTestId('page-range')).toHaveText(`6–10 of ${total}`);
  await expect(rows(page)).toHaveCount(5);
  const second = await shown(page);
  expect(second.some((name) => first.includes(name))).toBe(false);
  await expect(page).toHaveURL(/page=2/);
  await expect(page.getByTestId('page-previous')).toBeEnabled();

  // Typing a filter goes back to the first page of what matches.
  await page.getByTestId('search').fill('web');
  // The page may go back to 1 a moment before the filtered rows arrive: wait for the rows.
  await expect
    .poll(async () => {
      const names = await shown(page);
      return names.length > 0 && names.every((name) => name?.includes('web'));
    })
    .toBe(true);
  await expect(page.getByTestId('page-range')).toHaveText(/^1–\d+ of \d+$/);
  await expect(page).not.toHaveURL(/page=/);

  // Reloading keeps the view: it is in the address.
  await page.reload();
  await expect(page.getByTestId('search')).toHaveValue('web');
  for (const name of await shown(page)) expect(name).toContain('web');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('pages are links the server renders', async ({ page }) => {
    await page.goto('/?size=5&page=2');
    await expect(rows(page)).toHaveCount(5);
    await expect(page.getByTestId('page-range')).toHaveText(/^6–10 of \d+$/);
    await page.getByTestId('page-next').click();
    await expect(page).toHaveURL(/page=3/);
    await expect(page.getByTestId('page-range')).toHaveText(/^11–15 of \d+$/);
  });
});
