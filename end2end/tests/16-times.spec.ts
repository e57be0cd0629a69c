import { expect, test } from '@playwright/test';
import { openAndWait } from './helpers';

test('times read "… ago" once the page runs, with the exact time on hover and in datetime', async ({ page }) => {
  await openAndWait(page);
  const moment = page.getByTestId('moment').first();
  await expect(moment).toHaveText(/^(just now|1 minute ago|\d+ (minutes|hours|days) ago|1 (hour|day) ago)$/);
  await expect(moment).toHaveAttribute('title', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  await expect(moment).toHaveAttribute('datetime', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
});

test('without JavaScript the exact time is shown', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByTestId('moment').first()).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
  await context.close();
});

test.describe('in Chinese', () => {
  test.use({ locale: 'zh-CN' });
  test('relative times are Chinese', async ({ page }) => {
    await openAndWait(page);
    await expect(page.getByTestId('moment').first()).toHaveText(/^(刚刚|\d+ (分钟|小时|天)前)$/);
  });
});
