import fs from 'node:fs';
import { expect, test } from '@playwright/test';

// What a person at the console notices, measured in real Chromium against the bench's console:
// - first page: the server's time to render `/` (navigation timing: request start to response
//   end, on loopback), and the page's own load-to-hydrated time;
// - filter: typing a search, until the table shows the server's answer for it;
// - click: a Start click until the row's badge leaves Stopped (server function, the patch, the
//   controller, the watch and the push on the socket, and the re-render).
// Times are taken inside the page (performance.now() and a MutationObserver), not by polling.
// Settings: WUKONG_BENCH_CLICKS (200), WUKONG_BENCH_LOADS (20), WUKONG_BENCH_FILTERS (30),
// WUKONG_BENCH_UI_OUT (a JSON file), WUKONG_BENCH_LABEL.

const CLICKS = Number(process.env.WUKONG_BENCH_CLICKS ?? 200);
const LOADS = Number(process.env.WUKONG_BENCH_LOADS ?? 20);
const FILTERS = Number(process.env.WUKONG_BENCH_FILTERS ?? 30);
/** The bench VMs, as many per page as there are clicks (at most 500, the largest page). */
const VIEW = `/?q=bench-&size=${Math.min(500, Math.max(5, CLICKS))}`;

function summary(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (x: number) => Math.round(x * 10) / 10;
  if (sorted.length === 0) return { count: 0 };
  return {
    count: sorted.length,
    p50_ms: round(at(0.5)),
    p90_ms: round(at(0.9)),
    p99_ms: round(at(0.99)),
    max_ms: round(sorted[sorted.length - 1]),
  };
}

test('console UI timings', async ({ page, request }) => {
  const result: Record<string, unknown> = {
    label: process.env.WUKONG_BENCH_LABEL ?? '',
    date: new Date().toISOString(),
    view: VIEW,
  };

  // 1. First page, server-rendered: navigation timing of full loads of `/` (the default view: the
  // first 100 of all VMs by name, filtered, sorted and paged on the server).
  const server: number[] = [];
  const hydrated: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto('/');
    await page.waitForSelector('body[data-hydrated="true"]');
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { server: nav.responseEnd - nav.requestStart, ready: performance.now() };
    });
    server.push(t.server);
    hydrated.push(t.ready);
  }
  result.first_page_server_ms = summary(server);
  result.first_page_to_hydrated_ms = summary(hydrated);
  // The same over plain HTTP (no browser), the whole list being in the console's memory.
  const plain: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const t0 = performance.now();
    const res = await request.get('/');
    await res.body();
    plain.push(performance.now() - t0);
  }
  result.first_page_http_ms = summary(plain);

  // 2. Filter: type a search, until the rows on screen are the answer for it.
  await page.goto('/');
  await page.waitForSelector('body[data-hydrated="true"]');
  const filters: number[] = [];
  for (let i = 0; i < FILTERS; i++) {
    // vm-00NN: a different set of ten VMs each time (vm-00NN0 to vm-00NN9), at any N ≥ 1,000.
    const needle = `vm-00${i % 10}${(i * 3) % 10}`;
    const ms = await page.evaluate(async (needle) => {
      const input = document.querySelector('[data-testid="search"]') as HTMLInputElement;
      const body = document.querySelector('tbody')!;
      const matches = () => {
        const names = [...body.querySelectorAll('tr[data-testid="vm-row"]')].map((r) => r.getAttribute('data-name') ?? '');
        return names.length > 0 && names.every((n) => n.includes(needle));
      };
      const t0 = performance.now();
      return await new Promise<number>((resolve, reject) => {
        const done = new MutationObserver(() => {
          if (matches()) {
            done.disconnect();
            resolve(performance.now() - t0);
          }
        });
        done.observe(body, { childList: true, subtree: true });
        input.value = needle;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        setTimeout(() => reject(new Error(`no answer for ${needle}`)), 15_000);
      });
    }, needle);
    filters.push(ms);
  }
  result.filter_rerender_ms = summary(filters);

  // 3. Clicks: Start on Stopped VMs, until each badge leaves Stopped.
  await page.goto(VIEW);
  await page.waitForSelector('body[data-hydrated="true"]');
  const stopped = await page
    .locator('tr[data-testid="vm-row"]:has([data-state="Stopped"])')
    .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-namespace')!, r.getAttribute('data-name')!]));
  const clicks: number[] = [];
  let failed = 0;
  for (const [ns, name] of stopped.slice(0, CLICKS)) {
    const ms = await page.evaluate(async ([ns, name]) => {
      const selector = `tr[data-namespace="${ns}"][data-name="${name}"]`;
      const body = document.querySelector('tbody')!;
      const state = () => document.querySelector(`${selector} [data-testid="vm-state"]`)?.getAttribute('data-state');
      const t0 = performance.now();
      return await new Promise<number | null>((resolve) => {
        const done = new MutationObserver(() => {
          const s = state();
          if (s && s !== 'Stopped') {
            done.disconnect();
            resolve(performance.now() - t0);
          }
        });
        done.observe(body, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
        (document.querySelector(`${selector} button[data-action="start"]`) as HTMLButtonElement).click();
        setTimeout(() => resolve(null), 15_000);
      });
    }, [ns, name]);
    if (ms === null) failed += 1;
    else clicks.push(ms);
  }
  result.click_to_badge_ms = summary(clicks);
  result.clicks = { stopped_on_page: stopped.length, made: Math.min(CLICKS, stopped.length), no_change_within_15s: failed };

  console.log(JSON.stringify(result));
  if (process.env.WUKONG_BENCH_UI_OUT) {
    fs.writeFileSync(process.env.WUKONG_BENCH_UI_OUT, JSON.stringify(result, null, 2) + '\n');
  }
  expect(clicks.length + failed).toBeGreaterThan(0);
});
