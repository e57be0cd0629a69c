import { expect, test } from '@playwright/test';
import { button, dialog, errorToasts, expectState, openAndWait, row } from './helpers';

test('a request that fails reaches the person who clicked: toast and row message', async ({ browser }) => {
  const a = await browser.newContext();
  const b = await browser.newContext();
  try {
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    await openAndWait(pageA);
    await openAndWait(pageB);
    const rowA = row(pageA, 'team-b', 'api-03');
    await expectState(rowA, 'Running');

    // A opens the stop dialog; meanwhile B force-stops the same VM.
    await button(rowA, 'stop').click();
    await expect(dialog(pageA)).toBeVisible();
    await button(row(pageB, 'team-b', 'api-03'), 'force-stop').click();
    await dialog(pageB).getByTestId('confirm-ok').click();
    await expectState(rowA, 'Stopped');

    // A confirms its now-stale stop: the server refuses, and A is told why.
    await dialog(pageA).getByTestId('confirm-ok').click();
    await expect(errorToasts(pageA)).toContainText('not running');
    await expect(rowA.getByTestId('vm-message')).toContainText('not running');
    await expectState(rowA, 'Stopped');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a bad grace period is refused in the dialog and changes nothing', async ({ page }) => {
  await openAndWait(page);
  const r = row(page, 'ml-lab', 'notebook-01');
  await button(r, 'stop').click();
  const d = dialog(page);
  for (const bad of ['-5', '3601', '']) {
    await d.getByTestId('grace-period').fill(bad);
    await d.getByTestId('confirm-ok').click();
    await expect(d.getByTestId('grace-error')).toBeVisible();
    await expect(d).toBeVisible();
  }
  await d.getByTestId('confirm-cancel').click();
  await expect(d).toBeHidden();
  await expectState(r, 'Running');
});

test('a graceful stop uses the grace period typed in the dialog', async ({ page }) => {
  await openAndWait(page);
  const r = row(page, 'ml-lab', 'gpu-02');
  await button(r, 'stop').click();
  await dialog(page).getByTestId('grace-period').fill('45');
  await dialog(page).getByTestId('confirm-ok').click();
  await expectState(r, 'Stopping');
  await expect(r.getByTestId('vm-message')).toContainText('45 s');
  await expectState(r, 'Stopped');
});

test('after losing the live connection the page says so, reconnects and catches up without a reload', async ({ page }) => {
  let connections = 0;
  const open: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/live$/, (ws) => {
    connections += 1;
    if (connections === 2) {
      ws.close(); // the first reconnect attempt fails too
      return;
    }
    ws.connectToServer();
    open.push(ws);
  });
  await openAndWait(page);
  const live = page.getByTestId('live-status');
  await expect(live).toHaveAttribute('data-live', 'connected');

  await open[0].close();
  await expect(live).toHaveAttribute('data-live', 'reconnecting');

  // While this tab is disconnected, someone else starts a VM.
  const res = await page.request.post('/api/request_action', {
    form: { namespace: 'ml-lab', name: 'notebook-02', action: 'start' },
  });
  expect(res.status()).toBe(200);

  await expect(live).toHaveAttribute('data-live', 'connected', { timeout: 15_000 });
  await expectState(row(page, 'ml-lab', 'notebook-02'), 'Running');
  expect(connections).toBeGreaterThanOrEqual(3);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the filter form works as a plain GET form', async ({ page }) => {
    await page.goto('/?namespace=ml-lab&q=gpu');
    const names = await page
      .locator('tr[data-testid="vm-row"]')
      .evaluateAll((els) => els.map((el) => `${el.getAttribute('data-namespace')}/${el.getAttribute('data-name')}`));
    expect(names).toEqual(['ml-lab/gpu-01', 'ml-lab/gpu-02']);
    await expect(page.getByRole('button', { name: 'Apply' })).toBeVisible();
  });

  test('a filter that matches nothing says so', async ({ page }) => {
    await page.goto('/?q=no-such-vm');
    await expect(page.locator('tr[data-testid="vm-row"]')).toHaveCount(0);
    await expect(page.getByTestId('empty-state')).toContainText('No virtual machine matches the filter');
  });
});
