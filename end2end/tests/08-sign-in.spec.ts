import { expect, test, type Page } from '@playwright/test';
import { ACTIONS, badge, button, clickAndConfirm, rows, waitHydrated, type Action } from './helpers';

/**
 * `--auth=token` on the real cluster: the console runs as its ServiceAccount (deploy/base/rbac) and
 * three people sign in with ServiceAccount tokens made by ./dev/test: an editor of team-a
 * (wukong-team-lead), a viewer of team-b (wukong-viewer) and someone with no access.
 */
const tokens = {
  editor: process.env.WUKONG_E2E_TOKEN_EDITOR ?? '',
  viewer: process.env.WUKONG_E2E_TOKEN_VIEWER ?? '',
  nobody: process.env.WUKONG_E2E_TOKEN_NOBODY ?? '',
};
test.skip(process.env.WUKONG_E2E_AUTH !== 'token', 'needs a console with --auth=token (WUKONG_E2E_AUTH=token)');

async function signIn(page: Page, token: string) {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?reason=required$/);
  await page.getByTestId('login-token').fill(token);
  await page.getByTestId('login-submit').click();
  await expect(page).toHaveURL(/\/$/);
  await waitHydrated(page);
}

test('the console asks to sign in and refuses a token the cluster does not accept', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByTestId('login-notice')).toContainText('Sign in');
  await page.getByTestId('login-token').fill('not-a-real-token');
  await page.getByTestId('login-submit').click();
  await expect(page).toHaveURL(/error=invalid/);
  await expect(page.getByTestId('login-notice')).toContainText('did not accept that token');
  // No session was made: the list is still out of reach.
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
});

test('an editor of team-a sees only team-a, stops a VM, and finds it in the history under their name', async ({ page }) => {
  await signIn(page, tokens.editor);
  await expect(page.getByTestId('viewer')).toContainText('team-a-editor');
  await expect(page.getByTestId('open-banner')).toHaveCount(0);
  await expect(rows(page).first()).toBeVisible();
  const namespaces = await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-namespace')));
  expect(new Set(namespaces)).toEqual(new Set(['team-a']));

  const running = page.locator('tr[data-testid="vm-row"]:has([data-state="Running"]):has(button[data-action="stop"]:enabled)').first();
  const name = await running.getAttribute('data-name');
  const r = page.locator(`tr[data-testid="vm-row"][data-namespace="team-a"][data-name="${name}"]`);
  await clickAndConfirm(page, r, 'stop');
  await expect(badge(r)).toHaveAttribute('data-state', /Stopping|Stopped/, { timeout: 30_000 });
  await expect(page.locator('[data-testid="toast"][role="alert"]')).toHaveCount(0);

  await r.getByTestId('history-button').click();
  const history = page.getByTestId('history');
  await expect(history.locator('[data-testid="history-entry"][data-outcome="Accepted"]').first()).toBeVisible({ timeout: 15_000 });
  await expect(history.getByTestId('history-by').first()).toContainText('team-a-editor');
  await history.getByTestId('history-close').click();
});

test('a viewer of team-b sees team-b with every action button disabled', async ({ page }) => {
  await signIn(page, tokens.viewer);
  await expect(rows(page).first()).toBeVisible();
  const namespaces = await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-namespace')));
  expect(new Set(namespaces)).toEqual(new Set(['team-b']));
  const count = await rows(page).count();
  for (let i = 0; i < count; i++) {
    for (const action of ACTIONS) {
      await expect(button(rows(page).nth(i), action)).toBeDisabled();
    }
  }
  // Each says why: what the rules would allow (delete, from any settled state), the role does
  // not; what the rules refuse, they say (earlier tests may have moved team-b's VMs: read the state).
  const first = rows(page).first();
  const role = /your Kubernetes role does not allow this action/;
  await expect(button(first, 'delete')).toHaveAccessibleDescription(role);
  await expect(button(first, 'delete')).toHaveAttribute('title', role);
  const refusedByRules: Record<string, [Action, RegExp]> = {
    Running: ['start', /already running/],
    Stopped: ['stop', /not running/],
    Suspended: ['suspend', /already suspended/],
  };
  const state = (await first.getByTestId('vm-state').getAttribute('data-state'))!;
  if (refusedByRules[state]) {
    const [action, why] = refusedByRules[state];
    await expect(button(first, action)).toHaveAccessibleDescription(why);
  }
  // History is reading, which a viewer may do.
  await rows(page).first().getByTestId('history-button').click();
  await expect(page.getByTestId('history')).toBeVisible();
  await page.getByTestId('history-close').click();
  // The VM page says the same.
  const name = await first.getAttribute('data-name');
  await first.getByTestId('vm-link').click();
  await expect(page).toHaveURL(new RegExp(`/vm/team-b/${name}$`));
  await waitHydrated(page);
  await expect(button(rows(page).first(), 'delete')).toHaveAccessibleDescription(role);
  // The schedules page reads team-b's schedules and offers no way to make or change one.
  await page.goto('/schedules');
  await waitHydrated(page);
  await expect(page.getByTestId('schedules-page')).toBeVisible();
  await expect(page.getByTestId('schedule-error')).toHaveCount(0);
  await expect(page.getByTestId('new-schedule')).toHaveCount(0);
  await expect(page.getByTestId('edit-schedule')).toHaveCount(0);
  await expect(page.getByTestId('delete-schedule')).toHaveCount(0);
});

test('someone with no access sees an empty page that says why, and signing out ends the session', async ({ page }) => {
  await signIn(page, tokens.nobody);
  await expect(rows(page)).toHaveCount(0);
  await expect(page.getByTestId('empty-state')).toContainText('Your Kubernetes roles let you see no virtual machines');
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/reason=signed-out/);
  await expect(page.getByTestId('login-notice')).toContainText('signed out');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
});
