import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { openAndWait } from './helpers';

const LIGHT_BG = 'rgb(246, 247, 249)';
const DARK_BG = 'rgb(15, 19, 26)';

const choice = (page: import('@playwright/test').Page, theme: 'system' | 'light' | 'dark') =>
  page.locator(`[data-testid="theme-switch"][data-choice="${theme}"]`);

test.describe('on a light system', () => {
  test.use({ colorScheme: 'light' });

  test('the switch picks dark, keeps it, passes axe, and Auto follows the system again', async ({ page }) => {
    await openAndWait(page, '/?namespace=team-a');
    await expect(page.locator('html')).toHaveCSS('background-color', LIGHT_BG);
    await expect(choice(page, 'system')).toHaveAttribute('aria-pressed', 'true');
    await choice(page, 'dark').click();
    await expect(page).toHaveURL(/\/\?namespace=team-a$/);
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
    await expect(page.locator('html')).toHaveCSS('background-color', DARK_BG);
    await expect(choice(page, 'dark')).toHaveAttribute('aria-pressed', 'true');
    // Kept: a new visit is dark on a light system, and the page hydrates as rendered.
    await openAndWait(page, '/');
    await expect(page.locator('html')).toHaveCSS('background-color', DARK_BG);
    const results = await new AxeBuilder({ page }).analyze();
    const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(' | ')}`)).toEqual([]);
    await choice(page, 'system').click();
    await expect(page.locator('html')).not.toHaveAttribute('data-theme', /.+/);
    await expect(page.locator('html')).toHaveCSS('background-color', LIGHT_BG);
  });
});

test.describe('on a dark system', () => {
  test.use({ colorScheme: 'dark' });

  test('light overrides it, without JavaScript too', async ({ browser }) => {
    const context = await browser.newContext({ colorScheme: 'dark', javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto('/login?reason=idle');
    await expect(page.locator('html')).toHaveCSS('background-color', DARK_BG);
    await choice(page, 'light').click();
    await expect(page).toHaveURL(/\/login\?reason=idle$/);
    await expect(page.locator('html')).toHaveCSS('background-color', LIGHT_BG);
    await expect(choice(page, 'light')).toHaveAttribute('aria-pressed', 'true');
    await context.close();
  });
});
