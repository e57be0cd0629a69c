import { expect, test, type Page } from '@playwright/test';
import fs from 'node:path';
import { readFileSync } from 'node:fs';
import { openAndWait, rows } from './helpers';

/** The console's string table (`end2end/strings.json`, kept current by `cargo test -p app`). */
const strings: Record<string, Record<string, string>> = JSON.parse(
  readFileSync(fs.join(__dirname, '..', 'strings.json'), 'utf8'),
);

/**
 * Latin words a Chinese page may still show: product and technical names, which stay as they are.
 * Names of VMs, namespaces and nodes, and KubeVirt's and the apiserver's own words, are marked
 * `translate="no"` in the page and left out before looking.
 */
const TECHNICAL = new Set([
  'Wukong', 'KubeVirt', 'Kubernetes', 'CPU', 'vCPU', 'ACPI', 'ServiceAccount', 'OIDC', 'ID',
  'kubectl', 'virtctl', 'create', 'token', 'wukongs', 'vm', 'novasphere', 'dev', 'auth', 'proxy',
  // KubeVirt's run strategies, named in some refusals.
  'Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once',
  // Time zones are shown as offsets from UTC ("UTC+8"), in both languages.
  'UTC',
  // KubeVirt's kinds and the VM page's technical headings.
  'VirtualMachine', 'VirtualMachineInstance', 'VMI', 'YAML', 'IP',
]);

/** The page's text a person reads as the console's own words. */
async function ownText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const body = document.body.cloneNode(true) as HTMLElement;
    // Not the console's words: names and upstream texts (`translate="no"`), the language switch
    // (it names the other language in that language), and what is not shown.
    body
      .querySelectorAll('[translate="no"], [lang]:not([lang="zh-CN"]), script, [hidden], option:not(:checked)')
      .forEach((e) => e.remove());
    // Names quoted inside sentences (a refusal names its VM): every VM's namespace and name.
    let text = body.innerText;
    const names = new Set<string>();
    document.querySelectorAll('[data-namespace]').forEach((e) => names.add(e.getAttribute('data-namespace')!));
    document.querySelectorAll('[data-name]').forEach((e) => names.add(e.getAttribute('data-name')!));
    for (const name of [...names].sort((a, b) => b.length - a.length)) text = text.split(name).join(' ');
    return text;
  });
}

async function expectNoEnglish(page: Page) {
  const text = await ownText(page);
  const latin = [...new Set(text.match(/[A-Za-z][A-Za-z-]*/g) ?? [])].filter((w) => !TECHNICAL.has(w));
  expect(latin, `English words left on the Chinese page:\n${text}`).toEqual([]);
  // And no English text of the table, whole (this catches a text shown in the wrong table).
  for (const [key, english] of Object.entries(strings['en'])) {
    if (english === strings['zh-CN'][key] || english.length < 4) continue;
    expect(text, `the English text of ${key}`).not.toContain(english);
  }
}

test.describe('in Chinese', () => {
  test.use({ locale: 'zh-CN' });

  test('Accept-Language picks Chinese: lang, every surface, and no English left', async ({ page }) => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    await openAndWait(page);
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.locator('h1')).toHaveText('Wukong 控制台');
    await expect(page.getByTestId('vm-count')).toContainText('台虚拟机');
    // data-* stay English.
    await expect(rows(page).first().locator('[data-testid="vm-state"]')).toHaveAttribute('data-state', /^[A-Z][a-z]+$/);
    await expectNoEnglish(page);

    // The stop dialog, on a VM that can stop (earlier tests moved some).
    const web = page.locator('tr[data-testid="vm-row"]:has(button[data-action="stop"]:not([disabled]))').first();
    await web.locator('button[data-action="stop"]').click();
    await expect(page.getByTestId('confirm')).toContainText('宽限期（秒）');
    await expectNoEnglish(page);
    await page.getByTestId('confirm-cancel').click();

    // The history.
    await web.getByTestId('history-button').click();
    await expect(page.getByTestId('history')).toContainText('历史');
    await expectNoEnglish(page);
    await page.getByTestId('history-close').click();

    // The bulk bar and its confirmation.
    // (A VM that can restart: a bulk button none of the ticked VMs can take is disabled.)
    await page.locator('tr[data-testid="vm-row"]:has(button[data-action="restart"]:not([disabled]))').first()
      .locator('[data-testid="select-row"]').check();
    await expect(page.getByTestId('bulk-count')).toHaveText('已选择 1 台');
    await page.locator('button[data-bulk-action="restart"]').click();
    await expect(page.getByTestId('bulk-dialog')).toContainText('重启 1 台虚拟机？');
    await expectNoEnglish(page);
    await page.getByTestId('bulk-cancel').click();

    // What the server says comes as codes: a bulk suspend of a whole namespace, where the VMs
    // that cannot be suspended are refused, with the reason in Chinese.
    await page.getByTestId('namespace-filter').selectOption('team-b');
    await page.getByTestId('bulk-select-matching').click();
    await page.locator('button[data-bulk-action="suspend"]').click();
    const d = page.getByTestId('bulk-dialog');
    await d.getByTestId('bulk-ok').click();
    await expect(d.getByTestId('bulk-summary')).toContainText('已接受');
    const refused = d.locator('[data-testid="bulk-result"][data-accepted="false"]');
    await expect(refused.first()).toContainText('无法暂停');
    await expectNoEnglish(page);
    await d.getByTestId('bulk-close').click();
    // And what the controller says comes as codes too: the suspended VMs' messages read Chinese.
    await expect(page.getByTestId('vm-message').filter({ hasText: /正在暂停|虚拟机当前状态：已暂停/ }).first()).toBeVisible();
    await expect(page.locator('[data-testid="vm-message"] span[translate="yes"]').first()).toBeVisible();
    await expectNoEnglish(page);

    // The VM page: everything around KubeVirt's own words (which stay as KubeVirt wrote them).
    await page.goto('/vm/team-a/web-01');
    await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
    await expect(page.getByTestId('vm-page')).toBeVisible();
    await expectNoEnglish(page);

    // Server rendering and hydration agreed on the language: nothing to warn about.
    expect(errors.filter((e) => /hydrat/i.test(e))).toEqual([]);
  });

  test('the sign-in page is Chinese too', async ({ page }) => {
    await page.goto('/login?reason=idle');
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.getByTestId('login-notice')).toHaveText('由于长时间未操作，你的会话已结束，请重新登录。');
    await expectNoEnglish(page);
  });
});

test('the switch overrides Accept-Language, is kept, and comes back to the same filtered page', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await openAndWait(page, '/?namespace=team-b');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  // The switch names the other language in that language.
  await expect(page.getByTestId('lang-switch')).toHaveText('English');
  await page.getByTestId('lang-switch').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page).toHaveURL(/\/\?namespace=team-b$/);
  await expect(page.locator('h1')).toHaveText('Wukong Console');
  // Kept in a cookie: a new visit stays English whatever the browser asks for.
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByTestId('lang-switch')).toHaveText('中文');
  await page.getByTestId('lang-switch').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await context.close();
});

test('the switch works without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'en-US' });
  const page = await context.newPage();
  await page.goto('/?namespace=ml-lab');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.getByTestId('lang-switch').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page).toHaveURL(/\/\?namespace=ml-lab$/);
  await expect(page.getByTestId('vm-count')).toContainText('台虚拟机');
  await context.close();
});
