// The README's pictures: the list and a VM page, in English and Chinese, from a console on the
// sandbox. Run a console first, then this:
//   $CARGO_TARGET_DIR/release/wukong-console --sandbox --addr 127.0.0.1:3311 &
//   node dev/screenshots.mjs http://127.0.0.1:3311
// It writes docs/images/{list,vm-page}.{en,zh-CN}.png (Debian's Chromium, 1280 px wide, the
// times in Asia/Shanghai). Chinese needs a CJK font: Debian's fonts-wqy-microhei.
// A graceful stop of team-a/web-02 (grace period 300 s) is started first, so a row is counting down.
import { chromium } from '@playwright/test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? 'http://127.0.0.1:3311';
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'images');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  for (const locale of ['en', 'zh-CN']) {
    const context = await browser.newContext({
      locale, timezoneId: 'Asia/Shanghai', viewport: { width: 1280, height: 800 }, colorScheme: 'light',
    });
    const page = await context.newPage();
    await page.goto(`${base}/?namespace=team-a`);
    await page.locator('body[data-hydrated="true"]').waitFor();
    const web02 = page.locator('tr[data-testid="vm-row"][data-name="web-02"]');
    const stop = web02.locator('button[data-action="stop"]');
    if (await stop.isEnabled()) {
      await stop.click();
      await page.getByTestId('grace-period').fill('300');
      await page.getByTestId('confirm-ok').click();
      await web02.getByTestId('stop-countdown').waitFor();
    }
    await page.screenshot({ path: path.join(out, `list.${locale}.png`) });
    await page.goto(`${base}/vm/team-a/web-02`);
    await page.locator('body[data-hydrated="true"]').waitFor();
    await page.getByTestId('yaml').waitFor();
    await page.screenshot({ path: path.join(out, `vm-page.${locale}.png`), fullPage: true });
    await context.close();
  }
} finally {
  await browser.close();
}
