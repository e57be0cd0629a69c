import { expect, test, type Browser } from '@playwright/test';
import { openAndWait } from './helpers';

/** What `Intl` in Node says the exact time of `iso` is in `zone`, written as the console writes it. */
function expected(iso: string, zone: string): string {
  const at = new Date(iso);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
    }).formatToParts(at).map((p) => [p.type, p.value]),
  );
  const offset = parts.timeZoneName.replace(/^GMT/, '').replace(/^([+-])0?(\d+):00$/, '$1$2').replace(/^([+-])0?(\d+):(\d\d)$/, '$1$2:$3');
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} UTC${offset}`;
}

async function serverRendered(browser: Browser, cookie?: string) {
  const context = await browser.newContext({ javaScriptEnabled: false });
  if (cookie) {
    await context.addCookies([{ name: 'wukong-tz', value: cookie, url: test.info().project.use.baseURL ?? 'http://127.0.0.1:3300' }]);
  }
  const page = await context.newPage();
  await page.goto('/');
  return { context, page };
}

test.describe('in Shanghai', () => {
  test.use({ timezoneId: 'Asia/Shanghai' });

  test('a first visit is UTC until the page runs, then the browser\'s zone, remembered for the server', async ({ page, browser }) => {
    // What the server sends a browser it does not know yet: UTC, and no zone on the page.
    const response = await page.request.get('/', { headers: { cookie: '' } });
    const html = await response.text();
    expect(html).not.toContain('data-tz=');
    expect(html).toMatch(/title="\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC"/);

    await openAndWait(page);
    const moment = page.getByTestId('moment').first();
    const iso = (await moment.getAttribute('datetime'))!;
    await expect(moment).toHaveAttribute('title', expected(iso, 'Asia/Shanghai'));
    await expect(moment).toHaveAttribute('title', / UTC\+8$/);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'wukong-tz')?.value).toBe('Asia/Shanghai');

    // The next page the server renders is in the remembered zone, and hydrates as rendered;
    // without JavaScript too.
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    await page.reload();
    await expect(page.locator('html')).toHaveAttribute('data-tz', 'Asia/Shanghai');
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('moment').first()).toHaveAttribute('title', / UTC\+8$/);
    expect(errors).toEqual([]);
    const { context, page: plain } = await serverRendered(browser, 'Asia/Shanghai');
    const first = plain.getByTestId('moment').first();
    const at = (await first.getAttribute('datetime'))!;
    await expect(first).toHaveText(expected(at, 'Asia/Shanghai'));
    await context.close();
  });
});

test('daylight saving: New York times carry the offset of their own date', async ({ browser }) => {
  const { context, page } = await serverRendered(browser, 'America/New_York');
  await expect(page.locator('html')).toHaveAttribute('data-tz', 'America/New_York');
  const moments = page.getByTestId('moment');
  const count = await moments.count();
  expect(count).toBeGreaterThan(0);
  for (let i = 0; i < Math.min(count, 5); i++) {
    const at = (await moments.nth(i).getAttribute('datetime'))!;
    await expect(moments.nth(i)).toHaveText(expected(at, 'America/New_York'));
    await expect(moments.nth(i)).toHaveText(/ UTC-(4|5)$/);
  }
  await context.close();
});

test('a cookie that names no zone is ignored: UTC', async ({ browser }) => {
  const { context, page } = await serverRendered(browser, 'Mars/Olympus_Mons');
  await expect(page.locator('html')).not.toHaveAttribute('data-tz', /./);
  await expect(page.getByTestId('moment').first()).toHaveText(/ UTC$/);
  await context.close();
});

test.describe('in India, in Chinese', () => {
  test.use({ timezoneId: 'Asia/Kolkata', locale: 'zh-CN' });
  test('half-hour offsets, with the relative time in Chinese and the exact one on hover', async ({ page }) => {
    await openAndWait(page);
    const moment = page.getByTestId('moment').first();
    await expect(moment).toHaveText(/^(刚刚|\d+ (分钟|小时|天)前)$/);
    await expect(moment).toHaveAttribute('title', / UTC\+5:30$/);
    const iso = (await moment.getAttribute('datetime'))!;
    await expect(moment).toHaveAttribute('title', expected(iso, 'Asia/Kolkata'));
  });
});
