import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';

// What a person at the console notices, measured in real Chromium against the bench's console:
// - first page: the server's time to render `/` (navigation timing: request start to response
//   end, on loopback), and the page's own load-to-hydrated time;
// - filter: typing a search, until the table shows the server's answer for it;
// - click: a Start click until the row's badge leaves Stopped (server function, the patch, the
//   controller, the watch and the push on the socket, and the re-render).
// Times are taken inside the page (performance.now() and a MutationObserver), not by polling.
// Each click is split into stages: the server function's round trip (resource timing), the wait
// from its answer until the socket frame with the row's new state arrives (a wrapped WebSocket),
// and the render from that frame to the badge. With WUKONG_BENCH_CONTROLLER_METRICS (the
// controller's /metrics URL) the wait is split further by the controller's own histograms, read
// before and after the clicks: requestedAt to taken up, the KubeVirt call, the status write, and
// requestedAt to acknowledged; what is left of the wait is the watch and the push. Where the cores
// went during the clicks, by program (Chromium, the apiserver, each Wukong process...), is read from
// /proc by dev/cpu-share.py (`click_cpu`).
// Settings: WUKONG_BENCH_CLICKS (200), WUKONG_BENCH_LOADS (20), WUKONG_BENCH_FILTERS (30),
// WUKONG_BENCH_UI_OUT (a JSON file), WUKONG_BENCH_LABEL, WUKONG_BENCH_CONTROLLER_METRICS.

const CLICKS = Number(process.env.WUKONG_BENCH_CLICKS ?? 200);
const LOADS = Number(process.env.WUKONG_BENCH_LOADS ?? 20);
const FILTERS = Number(process.env.WUKONG_BENCH_FILTERS ?? 30);
/** The bench VMs, as many per page as there are clicks (at most 500, the largest page). */
const VIEW = `/?q=bench-&size=${Math.min(500, Math.max(5, CLICKS))}`;

/** Sum and count of a Prometheus histogram (all its label sets) in `text`. */
function histogram(text: string, name: string) {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.split(' ').pop());
    if (line.startsWith(`${name}_sum`)) sum += value;
    if (line.startsWith(`${name}_count`)) count += value;
  }
  return { sum, count };
}

const STAGES = [
  'wukong_controller_request_taken_up_seconds',
  'wukong_controller_action_duration_seconds',
  'wukong_controller_status_write_seconds',
  'wukong_controller_request_acknowledged_seconds',
];

/** Sum of a Prometheus counter's samples whose line contains `label` in `text`. */
function counter(text: string, name: string, label: string) {
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

/** dev/cpu-share.py: a snapshot of every process's CPU now, then what each program used since. */
const CPU_SHARE = path.join(__dirname, '..', '..', 'dev', 'cpu-share.py');
const CPU_FILE = path.join(os.tmpdir(), `wukong-bench-cpu-${process.pid}.json`);
function cpuSnapshot() {
  try {
    execFileSync('python3', [CPU_SHARE, 'snapshot', CPU_FILE]);
  } catch {
    // No /proc (not Linux) or no python3: the clicks are measured without it.
  }
}
function cpuReport(): unknown {
  const out = `${CPU_FILE}.report`;
  try {
    execFileSync('python3', [CPU_SHARE, 'report', CPU_FILE, '--into', out, '--key', 'cpu']);
    return JSON.parse(fs.readFileSync(out, 'utf8')).cpu;
  } catch {
    return null;
  } finally {
    fs.rmSync(out, { force: true });
    fs.rmSync(CPU_FILE, { force: true });
  }
}

async function controllerMetrics(): Promise<string | null> {
  const url = process.env.WUKONG_BENCH_CONTROLLER_METRICS;
  if (!url) return null;
  try {
    return await (await fetch(url)).text();
  } catch {
    return null;
  }
}

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

// The page's CSP allows no inline style: an A/B style is added with it bypassed, for that run only.
test.use({ bypassCSP: !!process.env.WUKONG_BENCH_EXTRA_STYLE });

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
  // Every frame's arrival time, for the rows a click is waiting on.
  await page.addInitScript(() => {
    const w = window as unknown as { __watch: string | null; __frameAt: number | null };
    w.__watch = null;
    w.__frameAt = null;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('message', (e: MessageEvent) => {
          const name = w.__watch;
          if (name && w.__frameAt === null && typeof e.data === 'string' && e.data.includes(`"name":"${name}"`)
            && !e.data.includes('"state":"Stopped"')) {
            w.__frameAt = performance.now();
          }
        });
      }
    } as typeof WebSocket;
  });
  const before = await controllerMetrics();
  await page.goto(VIEW);
  await page.waitForSelector('body[data-hydrated="true"]');
  // For A/B runs of the page's style (docs/performance.md): CSS added to the page for the clicks.
  if (process.env.WUKONG_BENCH_EXTRA_STYLE) await page.addStyleTag({ content: process.env.WUKONG_BENCH_EXTRA_STYLE });
  const stopped = await page
    .locator('tr[data-testid="vm-row"]:has([data-state="Stopped"])')
    .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-namespace')!, r.getAttribute('data-name')!]));
  const clicks: number[] = [];
  const serverFn: number[] = [];
  const waitForFrame: number[] = [];
  const render: number[] = [];
  let failed = 0;
  cpuSnapshot();
  for (const [ns, name] of stopped.slice(0, CLICKS)) {
    const t = await page.evaluate(async ([ns, name]) => {
      const w = window as unknown as { __watch: string | null; __frameAt: number | null };
      const selector = `tr[data-namespace="${ns}"][data-name="${name}"]`;
      const body = document.querySelector('tbody')!;
      const state = () => document.querySelector(`${selector} [data-testid="vm-state"]`)?.getAttribute('data-state');
      w.__watch = name;
      w.__frameAt = null;
      performance.clearResourceTimings();
      const t0 = performance.now();
      return await new Promise<{ total: number; fn: number; fnEnd: number; frame: number } | null>((resolve) => {
        const done = new MutationObserver(() => {
          const s = state();
          if (s && s !== 'Stopped') {
            done.disconnect();
            const end = performance.now();
            const call = performance.getEntriesByType('resource')
              .find((r) => r.name.includes('/api/request_action')) as PerformanceResourceTiming | undefined;
            resolve({
              total: end - t0,
              fn: call ? call.responseEnd - call.startTime : NaN,
              fnEnd: call ? call.responseEnd - t0 : NaN,
              frame: w.__frameAt === null ? NaN : w.__frameAt - t0,
            });
          }
        });
        done.observe(body, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
        (document.querySelector(`${selector} button[data-action="start"]`) as HTMLButtonElement).click();
        setTimeout(() => resolve(null), 15_000);
      });
    }, [ns, name]);
    if (t === null) {
      failed += 1;
      continue;
    }
    clicks.push(t.total);
    if (!Number.isNaN(t.fn)) serverFn.push(t.fn);
    if (!Number.isNaN(t.frame) && !Number.isNaN(t.fnEnd)) waitForFrame.push(t.frame - t.fnEnd);
    if (!Number.isNaN(t.frame)) render.push(t.total - t.frame);
  }
  result.click_cpu = cpuReport();
  result.click_to_badge_ms = summary(clicks);
  const mean = (xs: number[]) => (xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : null);
  const stages: Record<string, unknown> = {
    click_to_badge_mean_ms: mean(clicks),
    server_function_ms: { mean: mean(serverFn), ...summary(serverFn) },
    answer_to_frame_ms: { mean: mean(waitForFrame), ...summary(waitForFrame) },
    frame_to_badge_ms: { mean: mean(render), ...summary(render) },
  };
  const after = await controllerMetrics();
  if (before !== null && after !== null) {
    for (const name of STAGES) {
      const a = histogram(before, name);
      const b = histogram(after, name);
      const n = b.count - a.count;
      stages[name.replace('wukong_controller_', 'controller_').replace('_seconds', '_mean_ms')] =
        n > 0 ? Math.round(((b.sum - a.sum) / n) * 10000) / 10 : null;
    }
    // Where the controller read the requests it took up: its cache, or afresh from the apiserver;
    // `awaited`: not read, its own acknowledgement was on the way through the watch.
    const reads = 'wukong_controller_request_reads_total';
    const delta = (from: string) => counter(after, reads, `from="${from}"`) - counter(before, reads, `from="${from}"`);
    stages.controller_request_reads = { cache: delta('cache'), apiserver: delta('apiserver'), awaited: delta('awaited') };
  }
  result.click_stages = stages;
  result.clicks = { stopped_on_page: stopped.length, made: Math.min(CLICKS, stopped.length), no_change_within_15s: failed };

  console.log(JSON.stringify(result));
  if (process.env.WUKONG_BENCH_UI_OUT) {
    fs.writeFileSync(process.env.WUKONG_BENCH_UI_OUT, JSON.stringify(result, null, 2) + '\n');
  }
  expect(clicks.length + failed).toBeGreaterThan(0);
});
