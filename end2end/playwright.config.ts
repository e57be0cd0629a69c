import path from 'node:path';
import { defineConfig } from '@playwright/test';
import { chromium } from './chromium';

// Paths are resolved relative to this file, so the suite works both from the
// repository root (`npx playwright test -c end2end`) and from end2end/
// (`npx playwright test`, as cargo-leptos runs it). Relative values of
// CARGO_TARGET_DIR / LEPTOS_SITE_ROOT are taken relative to the repository root.
const root = path.resolve(__dirname, '..');
const fromRoot = (p: string) => path.resolve(root, p);

const baseURL = process.env.WUKONG_E2E_URL ?? 'http://127.0.0.1:3300';
const noServer = !!process.env.WUKONG_E2E_URL && process.env.WUKONG_E2E_NO_SERVER === '1';

const targetDir = fromRoot(process.env.CARGO_TARGET_DIR ?? 'target');
const serverCmd =
  process.env.WUKONG_E2E_SERVER_CMD ??
  `"${path.join(targetDir, 'release', 'wukong-console')}" --sandbox --addr 127.0.0.1:3300`;

export default defineConfig({
  testDir: './tests',
  outputDir: path.join(__dirname, 'test-results'),
  timeout: 30_000,
  expect: { timeout: 15_000 },
  retries: 0,
  // Tests mutate shared server state (one sandbox per run): keep them serial.
  workers: 1,
  fullyParallel: false,
  reporter: 'list',
  use: {
    baseURL,
    trace: 'retain-on-failure',
  },
  projects: [chromium],
  webServer: noServer
    ? undefined
    : {
        command: serverCmd,
        cwd: root,
        env: {
          LEPTOS_SITE_ROOT: fromRoot(process.env.LEPTOS_SITE_ROOT ?? 'target/site'),
          RUST_LOG: 'info',
        },
        url: 'http://127.0.0.1:3300/healthz',
        // Always a fresh sandbox: the tests assume the seeded states.
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: 'pipe',
      },
});
