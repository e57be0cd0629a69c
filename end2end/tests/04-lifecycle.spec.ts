import { expect, test } from '@playwright/test';
import { badge, button, clickAndConfirm, dialog, errorToasts, expectState, openAndWait, row } from './helpers';

// Each test drives its own VM from the sandbox seed.
test.beforeEach(async ({ page }) => openAndWait(page));

test('stop through the dialog', async ({ page }) => {
  const r = row(page, 'team-a', 'web-01');
  await expectState(r, 'Running');
  await button(r, 'stop').click();

  const d = dialog(page);
  await expect(d).toBeVisible();
  await expect(d.getByTestId('grace-period')).toHaveValue('30');
  await expect(d.getByTestId('force')).not.toBeChecked();
  await d.getByTestId('confirm-ok').click();

  await expectState(r, 'Stopping');
  await expectState(r, 'Stopped');
  await expect(button(r, 'start')).toBeEnabled();
  await expect(button(r, 'stop')).toBeDisabled();
});

test('start', async ({ page }) => {
  const r = row(page, 'team-a', 'db-02');
  await expectState(r, 'Stopped');
  await button(r, 'start').click();
  await expectState(r, 'Starting');
  await expectState(r, 'Running');
});

test('suspend, then resume', async ({ page }) => {
  const r = row(page, 'team-a', 'web-02');
  await expectState(r, 'Running');
  await button(r, 'suspend').click();
  await expectState(r, /^(Suspending|Suspended)$/);
  await expectState(r, 'Suspended');
  await button(r, 'resume').click();
  await expectState(r, 'Running');
});

test('restart', async ({ page }) => {
  const r = row(page, 'team-a', 'web-03');
  await expectState(r, 'Running');
  await button(r, 'restart').click();
  await expectState(r, 'Restarting');
  await expectState(r, 'Running');
});

test('force stop: cancel keeps the VM running, confirm stops it', async ({ page }) => {
  const r = row(page, 'team-b', 'api-01');
  await expectState(r, 'Running');

  await button(r, 'force-stop').click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  await expect(d).toContainText('team-b/api-01');
  await d.getByTestId('confirm-cancel').click();
  await expect(d).toBeHidden();
  await page.waitForTimeout(1_500);
  expect(await badge(r).getAttribute('data-state')).toBe('Running');

  await clickAndConfirm(page, r, 'force-stop');
  await expectState(r, 'Stopped');
});

test('graceful stop of a guest ignoring ACPI counts down, then forces', async ({ page }) => {
  const r = row(page, 'team-a', 'legacy-01');
  await expectState(r, 'Running');
  await button(r, 'stop').click();

  const d = dialog(page);
  await expect(d.getByTestId('grace-period')).toHaveValue('8');
  await d.getByTestId('confirm-ok').click();

  await expectState(r, 'Stopping');
  await expect(r.getByTestId('stop-countdown')).toBeVisible();
  await expectState(r, 'Stopped');
  await expect(r.getByTestId('vm-message')).toContainText(/forced/i);
});

test('delete removes the row', async ({ page }) => {
  const r = row(page, 'ml-lab', 'scratch-01');
  await expect(r).toHaveCount(1);
  await button(r, 'delete').click();

  const d = dialog(page);
  await expect(d).toContainText('ml-lab/scratch-01');
  await d.getByTestId('confirm-ok').click();
  await expect(r).toHaveCount(0);
});

test('a pending request blocks duplicates', async ({ page }) => {
  const r = row(page, 'team-b', 'worker-01');
  await expectState(r, 'Stopped');
  await button(r, 'start').click();
  // Disabled at once: first because the request is pending, then because Starting offers no start.
  await expect(button(r, 'start')).toBeDisabled({ timeout: 2_000 });
  // A (real, forced) click on the disabled button must do nothing. The row is re-rendered as status
  // streams in, so the click may find its node already replaced ("not visible"): then it did nothing
  // either. (dispatchEvent would not do: a synthetic event reaches the handler of a disabled button.)
  await button(r, 'start')
    .click({ force: true, timeout: 2_000 })
    .catch(() => undefined);
  await expectState(r, 'Running');
  await expect(r).not.toHaveAttribute('data-pending', 'true');
  await expect(errorToasts(page)).toHaveCount(0);
});
