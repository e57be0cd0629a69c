import { expect, test, type Page } from '@playwright/test';
import { openAndWait, row } from './helpers';

/**
 * Power schedules (issue 17), in the sandbox and on the real cluster alike: a person creates a
 * schedule, sees the next action on the VM's row, skips it with a one-off exception, applies the
 * schedule to more VMs from the list's bulk bar, suspends it and deletes it.
 *
 * The window is set hours ahead of now (in Asia/Shanghai), so no edge passes while the suite
 * runs: the schedule changes what the rows say, never a VM's state.
 */

/** HH:MM in Asia/Shanghai, `hours` from now. */
function shanghai(hours: number): string {
  const at = new Date(Date.now() + hours * 3_600_000);
  return at.toLocaleTimeString('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false });
}

const card = (page: Page, name: string) =>
  page.locator(`[data-testid="schedule"][data-name="${name}"]`);

test('a schedule made in the console shows its next action on the row, takes an exception, applies to more VMs and goes', async ({ page }) => {
  const name = `e2e-${Date.now().toString(36)}`;
  const [start, stop] = [shanghai(6), shanghai(12)];
  await openAndWait(page, '/schedules');
  await expect(page.getByTestId('schedules-page')).toBeVisible();
  await page.getByTestId('new-schedule').click();
  const form = page.getByTestId('schedule-editor');
  await form.getByTestId('schedule-name').fill(name);
  await form.getByTestId('schedule-namespace').selectOption('team-a');
  // A zone that does not exist is refused with what to fix, and nothing is made.
  await form.getByTestId('schedule-zone').fill('Asia/Beijing');
  await form.getByTestId('schedule-vms-input').fill('web-01');
  await form.getByTestId('save-schedule').click();
  await expect(form.getByTestId('schedule-form-error')).toContainText('IANA time zone');
  await expect(card(page, name)).toHaveCount(0);

  await form.getByTestId('schedule-zone').fill('Asia/Shanghai');
  for (const day of ['Saturday', 'Sunday']) {
    await form.locator(`[data-testid="window-day"][data-day="${day}"]`).check();
  }
  await form.getByTestId('window-start').fill(start);
  await form.getByTestId('window-stop').fill(stop);
  await form.getByTestId('schedule-grace').fill('120');
  await form.getByTestId('save-schedule').click();
  await expect(form).toBeHidden();
  const c = card(page, name);
  await expect(c).toBeVisible();
  await expect(c.getByTestId('schedule-vms')).toHaveText('web-01');
  // Off now, on in six hours: the next action is the start, in the schedule's zone.
  await expect(c.getByTestId('schedule-next')).toContainText(`Starts`);
  await expect(c.getByTestId('schedule-next')).toContainText(`${start} UTC+8, schedule ${name}`);

  // The row says it too.
  await openAndWait(page);
  const next = row(page, 'team-a', 'web-01').getByTestId('vm-next');
  await expect(next).toHaveAttribute('data-schedule', name);
  await expect(next).toHaveAttribute('data-action', 'start');
  await expect(next).toContainText(`${start} UTC+8, schedule ${name}`);
  await expect(row(page, 'team-a', 'web-02').getByTestId('vm-next')).toHaveCount(0);
  // And the VM's own page.
  await openAndWait(page, '/vm/team-a/web-01');
  await expect(page.getByTestId('vm-next')).toContainText(`${start} UTC+8, schedule ${name}`);
  await openAndWait(page);

  // Bulk: tick web-02 and apply the schedule to it.
  await row(page, 'team-a', 'web-02').getByTestId('select-row').check();
  await page.getByTestId('bulk-apply-schedule').click();
  const apply = page.getByTestId('apply-schedule');
  await expect(apply).toContainText('team-a/web-02');
  await apply.getByTestId('apply-schedule-choice').selectOption(`team-a/${name}`);
  await apply.getByTestId('apply-schedule-go').click();
  await expect(apply.getByTestId('apply-schedule-done')).toBeVisible();
  await expect(card(page, name).getByTestId('schedule-vms')).toHaveText('web-01, web-02');

  // A one-off exception: skip the next start. The next action becomes the stop after it.
  await card(page, name).getByTestId('skip-next').click();
  await expect(card(page, name).getByTestId('schedule-exception')).toHaveCount(1);
  await expect(card(page, name).getByTestId('schedule-exception')).toContainText('Skip the Start');
  await expect(card(page, name).getByTestId('schedule-next')).toContainText(`Stops`);
  await openAndWait(page);
  await expect(row(page, 'team-a', 'web-01').getByTestId('vm-next')).toHaveAttribute('data-action', 'stop');
  await expect(row(page, 'team-a', 'web-02').getByTestId('vm-next')).toContainText(`${stop} UTC+8`);

  // Suspended: no next action anywhere.
  await openAndWait(page, '/schedules');
  await card(page, name).getByTestId('suspend-schedule').click();
  await expect(card(page, name).getByTestId('schedule-suspended')).toBeVisible();
  await openAndWait(page);
  await expect(row(page, 'team-a', 'web-01').getByTestId('vm-next')).toHaveCount(0);

  // Deleted (a second click confirms).
  await openAndWait(page, '/schedules');
  await card(page, name).getByTestId('delete-schedule').click();
  await card(page, name).getByTestId('delete-schedule').click();
  await expect(card(page, name)).toHaveCount(0);
});

test('the schedules page reads in Chinese', async ({ page, context, baseURL }) => {
  await context.addCookies([{ name: 'wukong-lang', value: 'zh-CN', url: baseURL ?? 'http://127.0.0.1:3300' }]);
  const name = `e2e-zh-${Date.now().toString(36)}`;
  const [start, stop] = [shanghai(6), shanghai(12)];
  await openAndWait(page, '/schedules');
  await expect(page.getByRole('heading', { name: '开关机计划' })).toBeVisible();
  await page.getByTestId('new-schedule').click();
  const form = page.getByTestId('schedule-editor');
  await form.getByTestId('schedule-name').fill(name);
  await form.getByTestId('schedule-namespace').selectOption('team-a');
  await form.getByTestId('schedule-zone').fill('Asia/Shanghai');
  await form.getByTestId('schedule-vms-input').fill('web-01');
  for (const day of ['Saturday', 'Sunday']) {
    await form.locator(`[data-testid="window-day"][data-day="${day}"]`).check();
  }
  await form.getByTestId('window-start').fill(start);
  await form.getByTestId('window-stop').fill(stop);
  await form.getByTestId('save-schedule').click();
  await expect(card(page, name).getByTestId('schedule-next')).toContainText(`${start}（UTC+8）启动，计划 ${name}`);
  await card(page, name).getByTestId('delete-schedule').click();
  await card(page, name).getByTestId('delete-schedule').click();
  await expect(card(page, name)).toHaveCount(0);
});
