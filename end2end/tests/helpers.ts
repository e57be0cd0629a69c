import { expect, type Locator, type Page } from '@playwright/test';

/**
 * `WUKONG_E2E_BACKEND=kubernetes`: the console runs against the local control plane with the same
 * 29 VMs seeded there by `wukong-seed` (the lifecycle controller and the KubeVirt simulator carry requests out), not the sandbox.
 */
export const onRealCluster = process.env.WUKONG_E2E_BACKEND === 'kubernetes';

/** Lifecycle actions, as used in `button[data-action=...]`. */
export type Action = 'start' | 'stop' | 'force-stop' | 'restart' | 'suspend' | 'resume' | 'delete';
export const ACTIONS: Action[] = ['start', 'stop', 'force-stop', 'restart', 'suspend', 'resume', 'delete'];

export const STATES = [
  'Starting', 'Running', 'Stopping', 'Stopped', 'Restarting', 'Suspending',
  'Suspended', 'Resuming', 'Provisioning', 'Migrating', 'Failed', 'Error', 'Deleting', 'Unknown',
];

/** All VM rows of the table. */
export const rows = (page: Page): Locator => page.locator('tr[data-testid="vm-row"]');

/** The table row of one VM. */
export const row = (page: Page, ns: string, name: string): Locator =>
  page.locator(`tr[data-testid="vm-row"][data-namespace="${ns}"][data-name="${name}"]`);

/** The state badge inside a row; its `data-state` holds the English state name. */
export const badge = (r: Locator): Locator => r.locator('[data-testid="vm-state"]');

/** One of the row's action buttons. */
export const button = (r: Locator, action: Action): Locator =>
  r.locator(`button[data-action="${action}"]`);

/** The (single) confirmation dialog. */
export const dialog = (page: Page): Locator =>
  page.locator('[role="dialog"][data-testid="confirm"]');

/** Error toasts. */
export const errorToasts = (page: Page): Locator =>
  page.locator('[data-testid="toast"][role="alert"]');

export async function expectState(r: Locator, state: string | RegExp, timeout = 15_000) {
  await expect(badge(r)).toHaveAttribute('data-state', state, { timeout });
}

/** Waits until the browser has hydrated the app (`<body data-hydrated="true">`). */
export async function waitHydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
}

/** Opens the VM list and waits for hydration; JS-on tests must do this before clicking. */
export async function openAndWait(page: Page, url = '/') {
  await page.goto(url);
  await waitHydrated(page);
}

/** Clicks an action button and confirms the dialog it opens. */
export async function clickAndConfirm(page: Page, r: Locator, action: Action) {
  await button(r, action).click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  await d.locator('button[data-testid="confirm-ok"]').click();
  await expect(d).toBeHidden();
}

/** `data-namespace` / `data-name` of the visible rows, in table order (read atomically). */
export function visibleRows(page: Page): Promise<{ ns: string; name: string }[]> {
  return rows(page).evaluateAll((els) =>
    els
      .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
      .map((el) => ({ ns: el.getAttribute('data-namespace') ?? '', name: el.getAttribute('data-name') ?? '' })),
  );
}
