import { expect, test } from '@playwright/test';
import { clickAndConfirm, expectState, openAndWait, row } from './helpers';

test('a change made in one browser shows up live in another', async ({ browser }) => {
  const a = await browser.newContext();
  const b = await browser.newContext();
  try {
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    await openAndWait(pageA);
    await openAndWait(pageB);
    for (const p of [pageA, pageB]) {
      await expect(p.getByTestId('live-status')).toHaveAttribute('data-live', 'connected');
    }

    await expectState(row(pageB, 'team-b', 'api-02'), 'Running');
    await clickAndConfirm(pageA, row(pageA, 'team-b', 'api-02'), 'stop');
    await expectState(row(pageB, 'team-b', 'api-02'), 'Stopped');
  } finally {
    await a.close();
    await b.close();
  }
});
