import { expect, test } from '@playwright/test';
import { openAndWait, visibleRows } from './helpers';

test('hydrates without console errors', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The browser's automatic favicon request is not the app's business.
    if (m.location().url.endsWith('/favicon.ico')) return;
    errors.push(`console: ${m.text()} (${m.location().url})`);
  });

  await openAndWait(page);
  await page.waitForTimeout(1_000);
  expect(errors).toEqual([]);
});

test('namespace filter shows only that namespace', async ({ page }) => {
  await openAndWait(page);
  await page.getByTestId('namespace-filter').selectOption('ml-lab');
  // ml-lab has 8 VMs (7 once the lifecycle test deleted scratch-01).
  await expect
    .poll(async () => [...new Set((await visibleRows(page)).map((r) => r.ns))])
    .toEqual(['ml-lab']);

  await page.getByTestId('namespace-filter').selectOption('');
  await expect.poll(async () => new Set((await visibleRows(page)).map((r) => r.ns)).size).toBe(4);
});

test('search filters by name', async ({ page }) => {
  await openAndWait(page);
  await page.getByTestId('search').pressSequentially('web');
  await expect
    .poll(async () => (await visibleRows(page)).map((r) => `${r.ns}/${r.name}`).sort())
    .toEqual(['team-a/web-01', 'team-a/web-02', 'team-a/web-03']);
});
