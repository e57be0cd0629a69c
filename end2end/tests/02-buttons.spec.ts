import { expect, test } from '@playwright/test';
import { type Action, button, openAndWait, row } from './helpers';

async function expectButtons(
  page: import('@playwright/test').Page,
  ns: string,
  name: string,
  enabled: Action[],
  disabled: Action[],
) {
  const r = row(page, ns, name);
  for (const a of enabled) await expect(button(r, a), `${ns}/${name} ${a}`).toBeEnabled();
  for (const a of disabled) await expect(button(r, a), `${ns}/${name} ${a}`).toBeDisabled();
}

test.beforeEach(async ({ page }) => openAndWait(page));

test('Stopped (Halted) offers start and delete only', async ({ page }) => {
  await expectButtons(page, 'team-a', 'build-01', ['start', 'delete'],
    ['stop', 'suspend', 'resume', 'restart', 'force-stop']);
});

test('Suspended offers resume, not suspend or start', async ({ page }) => {
  await expectButtons(page, 'team-a', 'cache-01', ['resume'], ['suspend', 'start']);
});

test('Failed under Always offers force-stop, not start', async ({ page }) => {
  await expectButtons(page, 'ml-lab', 'gpu-01', ['force-stop'], ['start']);
});

test('Running under Always offers stop, not start', async ({ page }) => {
  await expectButtons(page, 'team-b', 'queue-01', ['stop'], ['start']);
});
