import { expect, test } from '@playwright/test';
import { button, clickAndConfirm, dialog, errorToasts, expectState, openAndWait, row } from './helpers';

// Issue 12: a request must be exactly what the person asked for. A force stop used to leave
// `force: true` behind in spec.lifecycleAction (a merge patch only replaces the fields it names),
// so the next graceful stop on the same VM was a power cut. Here the same VM goes through
// Force stop → Start → Stop with 30 s, clicked, on the sandbox and on the real control plane.
test.beforeEach(async ({ page }) => openAndWait(page));

test('a graceful stop after a force stop and a start is graceful', async ({ page }) => {
  const r = row(page, 'ml-lab', 'scratch-02');
  await expectState(r, 'Running');

  await clickAndConfirm(page, r, 'force-stop');
  await expectState(r, 'Stopped');

  await button(r, 'start').click();
  await expectState(r, 'Running');

  await button(r, 'stop').click();
  const d = dialog(page);
  await expect(d.getByTestId('force')).not.toBeChecked();
  await d.getByTestId('grace-period').fill('30');
  await d.getByTestId('confirm-ok').click();

  // Graceful: the guest is asked to shut down and the console counts down to the deadline. A
  // forced stop has no deadline and shows no countdown.
  await expectState(r, 'Stopping');
  await expect(r.getByTestId('stop-countdown')).toBeVisible();
  await expectState(r, 'Stopped');
  await expect(r.getByTestId('vm-message')).not.toContainText(/forced/i);
  await expect(errorToasts(page)).toHaveCount(0);
});
