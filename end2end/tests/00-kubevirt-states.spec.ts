import { expect, test } from '@playwright/test';
import { badge, button, clickAndConfirm, expectState, openAndWait, row } from './helpers';

// KubeVirt's other states, on the kv-lab VMs of the seed (the simulator makes them: see
// docs/kubevirt-conformance.md). First in file order: import-01's disk imports only for the first
// 40 s after the sandbox (or the cluster seed) comes up.
test.beforeEach(async ({ page }) => openAndWait(page));

test('a VM whose disk imports reads Provisioning, offers Start, then reads Stopped', async ({ page }) => {
  test.setTimeout(90_000);
  const r = row(page, 'kv-lab', 'import-01');
  await expectState(r, 'Provisioning');
  // Halted: KubeVirt takes a start (the VM starts once the disk is ready); nothing runs to stop.
  await expect(button(r, 'start')).toBeEnabled();
  await expect(button(r, 'stop')).toBeDisabled();
  await expect(button(r, 'force-stop')).toBeDisabled();
  await expectState(r, 'Stopped', 60_000);
  await expect(button(r, 'start')).toBeEnabled();
});

test("an image that cannot be pulled reads Error with KubeVirt's reason; Stop is offered, Start is not", async ({
  page,
}) => {
  const r = row(page, 'kv-lab', 'pull-01');
  await expectState(r, 'Error', 30_000);
  await expect(r.getByTestId('vm-message')).toContainText('ErrImagePull');
  // KubeVirt refuses a start while the VMI exists ("VM is already running") and takes a stop.
  await expect(button(r, 'start')).toBeDisabled();
  await expect(button(r, 'stop')).toBeEnabled();
  await expect(button(r, 'restart')).toBeEnabled();
  await expect(button(r, 'suspend')).toBeDisabled();
  await clickAndConfirm(page, r, 'force-stop');
  await expectState(r, 'Stopped', 30_000);
});

test('stopping a suspended VM reads Stopping, not Suspended, and offers no Resume', async ({ page }) => {
  const r = row(page, 'kv-lab', 'pause-01');
  await expectState(r, 'Running', 30_000);
  await button(r, 'suspend').click();
  await expectState(r, 'Suspended');
  await clickAndConfirm(page, r, 'stop');
  await expectState(r, 'Stopping');
  await expect(button(r, 'resume')).toBeDisabled();
  await expect(button(r, 'force-stop')).toBeEnabled();
  // A paused guest cannot answer ACPI: it is switched off at its 5 s grace period.
  await expectState(r, 'Stopped', 30_000);
  await expect(badge(r)).toHaveAttribute('data-state', 'Stopped');
});
