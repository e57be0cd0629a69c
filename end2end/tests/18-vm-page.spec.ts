import { expect, test } from '@playwright/test';
import { badge, button, clickAndConfirm, expectState, onRealCluster, openAndWait, row, rows, waitHydrated } from './helpers';

// A VM no other test acts on (bulk actions of earlier tests reach team-b and the list's first
// row): Running, RerunOnFailure.
const NS = 'ml-lab';
const NAME = 'train-01';
const PAGE = `/vm/${NS}/${NAME}`;

test('the row\'s name leads to the VM page: its row, KubeVirt\'s VM and VMI, spec, history and YAML', async ({ page }) => {
  await openAndWait(page, `/?namespace=${NS}`);
  await row(page, NS, NAME).getByTestId('vm-link').click();
  await expect(page).toHaveURL(PAGE);
  await waitHydrated(page);
  const vm = page.getByTestId('vm-page');
  await expect(vm).toHaveAttribute('data-name', NAME);
  // The same row as the list, with its buttons, and nothing else.
  await expect(rows(page)).toHaveCount(1);
  await expectState(row(page, NS, NAME), 'Running');
  await expect(row(page, NS, NAME).getByTestId('select-row')).toHaveCount(0);
  // What KubeVirt says, in its own words.
  await expect(page.getByTestId('printable-status')).toHaveText('Running');
  await expect(page.getByTestId('vmi-phase')).toHaveText('Running');
  await expect(page.getByTestId('vmi-node')).not.toBeEmpty();
  await expect(page.getByTestId('vmi-ip').first()).toHaveText(/^\d+\.\d+\.\d+\.\d+$/);
  await expect(page.getByTestId('vmi-conditions').locator('tr[data-condition="Ready"]')).toContainText('True');
  await expect(page.getByTestId('spec')).toContainText('runStrategy');
  await expect(page.getByTestId('spec')).toContainText('RerunOnFailure');
  const yaml = page.getByTestId('yaml');
  await expect(yaml).toContainText('kind: Wukong');
  await expect(yaml).toContainText(`name: ${NAME}`);
  await expect(yaml).not.toContainText('managedFields');
  // Back to the list, in the VM's namespace.
  await page.getByTestId('back-to-list').click();
  await expect(page).toHaveURL(`/?namespace=${NS}`);
});

test('the VM page follows a stop live: badge, KubeVirt\'s status, the VMI going, history and Events', async ({ page }) => {
  await openAndWait(page, PAGE);
  const r = row(page, NS, NAME);
  await expectState(r, 'Running');
  await clickAndConfirm(page, r, 'stop');
  await expect(badge(r)).toHaveAttribute('data-state', /Stopping|Stopped/);
  await expectState(r, 'Stopped', 30_000);
  await expect(page.getByTestId('printable-status')).toHaveText('Stopped', { timeout: 15_000 });
  await expect(page.getByTestId('no-vmi')).toBeVisible({ timeout: 15_000 });
  // The request is in the history, and the controller's Event is listed, without a reload.
  const history = page.getByTestId('vm-history').getByTestId('history-entry');
  await expect(history.first()).toHaveAttribute('data-outcome', 'Accepted', { timeout: 15_000 });
  await expect(page.locator('[data-testid="event"][data-reason="Accepted"]').first()).toBeVisible({ timeout: 15_000 });
  // And it starts again from the same page.
  await button(r, 'start').click();
  await expectState(r, 'Running', 30_000);
  await expect(page.getByTestId('printable-status')).toHaveText('Running', { timeout: 15_000 });
  await expect(page.getByTestId('vmi-phase')).toHaveText('Running');
});

test('without JavaScript the VM page is all there', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const answer = await page.goto(PAGE);
  expect(answer?.status()).toBe(200);
  await expect(rows(page)).toHaveCount(1);
  await expect(page.getByTestId('printable-status')).not.toBeEmpty();
  await expect(page.getByTestId('yaml')).toContainText('kind: Wukong');
  await context.close();
});

test('a VM that is not there is a 404 that says so', async ({ page }) => {
  const answer = await page.goto(`/vm/${NS}/no-such-vm`);
  expect(answer?.status()).toBe(404);
  await expect(page.getByTestId('vm-not-found')).toContainText('no-such-vm');
  await expect(page.getByTestId('back-to-list')).toBeVisible();
});

test.describe('in Chinese', () => {
  test.use({ locale: 'zh-CN' });
  test('the VM page is Chinese around KubeVirt\'s own words', async ({ page }) => {
    test.skip(onRealCluster, 'the words are the same on both backends; once is enough');
    await openAndWait(page, PAGE);
    await expect(page.getByTestId('back-to-list')).toHaveText('全部虚拟机');
    await expect(page.locator('#kubevirt-title')).toHaveText('KubeVirt 的状态');
  });
});
