import { expect, test } from '@playwright/test';
import { button, openAndWait, rows } from './helpers';

// A row of a VM in `state` (the sandbox's seed has Running and Stopped VMs under Manual).
const rowIn = (page: import('@playwright/test').Page, state: string) =>
  rows(page).filter({ has: page.locator(`[data-testid="vm-state"][data-state="${state}"]`) }).first();

test('a disabled button says why: a tooltip and its accessible description', async ({ page }) => {
  await openAndWait(page);
  const running = rowIn(page, 'Running');
  const start = button(running, 'start');
  await expect(start).toBeDisabled();
  await expect(start).toHaveAttribute('title', 'the VM is already running');
  await expect(start).toHaveAccessibleDescription('the VM is already running');
  // An enabled button has no reason.
  await expect(button(running, 'stop')).toBeEnabled();
  await expect(button(running, 'stop')).not.toHaveAttribute('title', /./);

  const stopped = rowIn(page, 'Stopped');
  await expect(button(stopped, 'suspend')).toHaveAccessibleDescription(/the VM is not running \(it is Stopped\)/);
});

test.describe('in Chinese', () => {
  test.use({ locale: 'zh-CN' });
  test('the reason is in the person\'s language', async ({ page }) => {
    await openAndWait(page);
    const start = button(rowIn(page, 'Running'), 'start');
    await expect(start).toHaveAttribute('title', '虚拟机已在运行');
    await expect(start).toHaveAccessibleDescription('虚拟机已在运行');
  });
});
