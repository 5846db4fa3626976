import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`\n${'!'.repeat(78)}\n!! SKIPPED: the report's browser test needs Debian's Chromium at ${CHROMIUM}.\n!! Install it with: apt-get install -y chromium   (.ci/run does this when it can)\n${'!'.repeat(78)}\n`);
}

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
/** The README's chart: written when missing or on request, so that a test run leaves the work tree clean. */
const README_CHART = path.join(ROOT, 'docs', 'report-chart.png');
const refreshReadmeChart = process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(README_CHART);

describe('the report\'s HTML file, in Chromium', () => {
  let browser: Browser;
  let dir: string;

  /** The fixture's report as `npm run report -- --format html` writes it (drawn by vega in a tsx process). */
  const write = (name: string, ...args: string[]) => {
    const file = path.join(dir, name);
    execFileSync(process.execPath, [TSX, 'test/browser/report-fixture.ts', file, ...args], { cwd: ROOT, timeout: 60_000 });
    return file;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pd-router-report-html-'));
    if (hasChromium) browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  (hasChromium ? it : it.skip)('opens from the file alone and shows its charts: response times per week with the targets as lines, escalations per week, per customer', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    const all = write('all.html');
    await page.goto(`file://${all}`);
    const figures = page.locator('figure');
    await expect(figures.count()).resolves.toBe(3);
    for (let i = 0; i < 3; i++) {
      const box = await figures.nth(i).locator('svg').boundingBox();
      expect(box!.width).toBeGreaterThan(400);
      expect(box!.height).toBeGreaterThan(100);
    }
    // Lines with their points, stacked bars, and the per-customer bars with their targets as ticks.
    expect(await figures.nth(0).locator('.mark-line.role-mark path').count()).toBeGreaterThanOrEqual(4);
    expect(await figures.nth(1).locator('.mark-rect.role-mark path').count()).toBeGreaterThan(8);
    expect(await figures.nth(2).locator('.mark-rect.role-mark path').count()).toBeGreaterThanOrEqual(4 + 3);
    await expect(page.getByRole('heading', { name: 'Response report' }).isVisible()).resolves.toBe(true);
    mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'report.png'), fullPage: true });

    const acme = write('acme.html', 'C0ACME00001');
    await page.goto(`file://${acme}`);
    const times = page.locator('figure').first();
    // One customer's targets drawn as dashed lines across its weeks.
    expect(await times.locator('.mark-rule.role-mark line').count()).toBe(2);
    expect(await times.locator('svg text', { hasText: 'acknowledge within 15m' }).count()).toBe(1);
    if (refreshReadmeChart) {
      await times.screenshot({ path: path.join(ROOT, 'test-results', 'report-chart.png') });
      copyFileSync(path.join(ROOT, 'test-results', 'report-chart.png'), README_CHART);
    }
    // Nothing was fetched: the files need no network when opened.
    expect(requests.filter((url) => !url.startsWith('file://'))).toEqual([]);
    await page.close();
  });
});
