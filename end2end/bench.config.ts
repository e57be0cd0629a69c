import path from 'node:path';
import { defineConfig } from '@playwright/test';
import { chromium } from './chromium';

// The browser half of the benchmark (docs/performance.md), run by ./dev/bench against a console it
// started (WUKONG_BENCH_URL). Never part of the pass/fail suite: it measures, it asserts nothing
// about time.
export default defineConfig({
  testDir: './bench',
  testMatch: /.*\.bench\.ts/,
  outputDir: path.join(__dirname, 'test-results-bench'),
  timeout: 15 * 60_000,
  expect: { timeout: 30_000 },
  retries: 0,
  workers: 1,
  reporter: 'list',
  use: { baseURL: process.env.WUKONG_BENCH_URL ?? 'http://127.0.0.1:3400' },
  projects: [chromium],
});
