import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from '../../local/sandbox-console/channels';
import { sandboxConsole } from '../../local/sandbox-console/routes';
import { startStack, type LocalStack } from '../../local/stack';
import { httpCustomerAdmin } from '../../scripts/customers';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! SKIPPED: the sandbox console browser test needs Debian's Chromium at ${CHROMIUM}.\n` +
      `!! Install it with: apt-get install -y chromium   (.ci/run does this when it can)\n${'!'.repeat(78)}\n`,
  );
}

/** The flags this machine's Chromium needs: no sandbox as root, no GPU, and no calls home (the network is closed). */
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOT = path.join(__dirname, '..', '..');
const SCREENSHOT = path.join(ROOT, 'test-results', 'sandbox-console.png');
/** The README's picture: written when missing or on request, so that a test run leaves the work tree clean. */
const README_SCREENSHOT = path.join(ROOT, 'docs', 'sandbox-console.png');
const refreshReadmeScreenshot = process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(README_SCREENSHOT);
/** Without a colour emoji font Chromium draws empty boxes for the console's emoji: such a picture never replaces the README's. */
const hasEmojiFont = (() => {
  try {
    return /emoji/i.test(execFileSync('fc-list', [':', 'family'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();
if (hasChromium && refreshReadmeScreenshot && !hasEmojiFont) {
  console.warn(`\n!! The README's screenshot is not retaken: no colour emoji font (apt-get install -y fonts-noto-color-emoji; .ci/run does this when it can).\n`);
}

const ACME = 'Checkout API returns 500 errors';
const GLOBEX = 'Login page times out for every user';

describe('the sandbox console, in Chromium', () => {
  let stack: LocalStack;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const column = (channel: string) => page.locator(`[data-channel="${channel}"] .messages`);
  // By its title: a card's merge picker names the other incidents too.
  const incident = (title: string) => page.locator('.incident').filter({ has: page.locator('h3', { hasText: title }) });
  const shows = (channel: string, text: string) => column(channel).getByText(text).first().waitFor();

  beforeAll(async () => {
    if (!hasChromium) return;
    stack = await startStack({ env: {}, logLevel: 'silent', retryBaseSeconds: 0, visibilityTimeoutSeconds: 5, standIns: { channelNames: SANDBOX_CHANNEL_NAMES }, routes: sandboxConsole({ channels: SANDBOX_CHANNELS }) });
    userDataDir = mkdtempSync(path.join(tmpdir(), 'pd-router-chromium-'));
    // Playwright takes the profile directory itself rather than as --user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1600, height: 1000 } });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  (hasChromium ? it : it.skip)('escalates from two channels, works the incident, and shows each channel only its own', async () => {
    await page.goto(`${stack.url}/sandbox`);
    await page.locator('#connection.live').waitFor();
    expect(await page.locator('.channel-header h2').allInnerTexts()).toEqual(['# customer-acme', '# customer-globex', '# customer-initech']);
    // Each demo channel is a registered customer, and its card says so.
    expect(await page.locator('.customer-card').allInnerTexts()).toEqual(
      ['Acme Corp', 'Globex', 'Initech'].map((name) => expect.stringMatching(new RegExp(`^${name}\\s+3 of 3 pages left this hour\\s+confirmation off\\s+last 30 days: 0 asked$`))),
    );

    // Two customers type, as they would in Slack.
    await page.getByRole('textbox', { name: 'Message #customer-acme' }).fill(`@bot escalate ${ACME}`);
    await page.getByRole('textbox', { name: 'Message #customer-acme' }).press('Enter');
    await page.getByRole('textbox', { name: 'Message #customer-globex' }).fill(`@bot escalate ${GLOBEX}`);
    await page.getByRole('textbox', { name: 'Message #customer-globex' }).press('Enter');
    await shows('CACME', 'On-call has been paged');
    await shows('CGLOBEX', 'On-call has been paged');
    await stack.waitForIdle(); // the incidents' own webhooks, which post nothing: the confirmations say it

    // On-call works Acme's incident from the panel; the updates come back through the webhook path.
    await incident(ACME).getByRole('button', { name: 'Acknowledge' }).click();
    await shows('CACME', 'Acknowledged by Sandbox On-Call');
    await incident(ACME).getByRole('button', { name: 'Resolve' }).click();
    await shows('CACME', 'Resolved by Sandbox On-Call');
    // An Acme user checks the status from the confirmation's button.
    await column('CACME').getByRole('button', { name: 'Check Status' }).first().click();
    await shows('CACME', 'Only visible to you');
    await stack.waitForIdle();
    await page.waitForTimeout(100); // the last snapshot's render

    const acme = await column('CACME').innerText();
    expect(acme).toContain(`@pd-router escalate ${ACME}`);
    expect(acme).toContain('On-call has been paged (escalation #1)');
    expect(acme).toContain('Status: 🟢 Resolved'); // the confirmation, kept current, and the Check Status answer
    expect(acme).not.toContain(GLOBEX);
    expect(await column('CACME').locator('.message').count()).toBe(5); // mention, confirmation, acknowledged, resolved, status

    const globex = await column('CGLOBEX').innerText();
    expect(globex).toContain(`@pd-router escalate ${GLOBEX}`);
    expect(globex).toContain('Status: 🔴 Triggered');
    expect(globex).not.toContain(ACME);
    expect(globex).not.toMatch(/Acknowledged|Resolved|Only visible/);
    expect(await column('CGLOBEX').locator('.message').count()).toBe(2); // mention, confirmation
    // Each card counts its own channel's last 30 days, from the escalation history, with a bar for today.
    const cardOf = (channel: string) => page.locator(`[data-channel="${channel}"] .customer-card`);
    expect(await cardOf('CACME').innerText()).toMatch(/last 30 days: 1 asked, 1 paged, acknowledged in [\dm ]+s \(median\)$/);
    expect(await cardOf('CGLOBEX').innerText()).toMatch(/last 30 days: 1 asked, 1 paged$/);
    expect(await cardOf('CINITECH').innerText()).toMatch(/last 30 days: 0 asked$/);
    expect(await cardOf('CACME').locator('.customer-spark rect').count()).toBe(1);

    const initech = await column('CINITECH').innerText();
    expect(initech).toContain('No messages yet');
    expect(initech).not.toContain(ACME);
    expect(initech).not.toContain(GLOBEX);

    expect(await incident(ACME).locator('.pill').innerText()).toMatch(/resolved/i);
    expect(await incident(ACME).getByRole('button', { name: 'Resolve' }).isDisabled()).toBe(true);
    expect(await incident(GLOBEX).locator('.pill').innerText()).toMatch(/triggered/i);

    await page.mouse.move(0, 0); // no hover highlight in the picture
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    if (refreshReadmeScreenshot && hasEmojiFont) copyFileSync(SCREENSHOT, README_SCREENSHOT);

    // On-call publishes a status update on Globex's incident: Globex reads it, escaped, nobody else.
    page.once('dialog', (dialog) => void dialog.accept('Fix rolling out <!channel>'));
    await incident(GLOBEX).getByRole('button', { name: 'Status update' }).click();
    await shows('CGLOBEX', 'status update from Sandbox On-Call');
    expect(await column('CGLOBEX').innerText()).toContain('Fix rolling out <!channel>');
    expect(await column('CACME').innerText()).not.toContain('Fix rolling out');
    // The service's switches: webhooks off, then maintenance on, each shown on its button.
    await page.getByRole('button', { name: 'Webhooks on' }).click();
    await page.getByRole('button', { name: 'Webhooks OFF (0 lost)' }).waitFor();
    await page.getByRole('button', { name: 'Maintenance off' }).click();
    await page.getByRole('button', { name: 'Maintenance ON (0 without incident)' }).waitFor();
    expect(stack.pagerDuty!.serviceState()).toEqual({ webhooks: 'off', lostWebhooks: 0, maintenance: true, suppressedAlerts: 0 });
    // And back, for the tests that follow on this stack.
    await page.getByRole('button', { name: 'Webhooks OFF (0 lost)' }).click();
    await page.getByRole('button', { name: 'Webhooks on' }).waitFor();
    await page.getByRole('button', { name: 'Maintenance ON (0 without incident)' }).click();
    await page.getByRole('button', { name: 'Maintenance off' }).waitFor();
  });

  (hasChromium ? it : it.skip)('answers a typed slash command as Slack would, and lets on-call open, retitle and merge incidents', async () => {
    await page.goto(`${stack.url}/sandbox`);
    await page.locator('#connection.live').waitFor();
    const initechBox = page.getByRole('textbox', { name: 'Message #customer-initech' });
    await initechBox.fill('/piiano-pd-trigger db <down> & out');
    await initechBox.press('Enter');
    // The router's immediate answer and its response_url answers, each shown to that user only.
    await shows('CINITECH', 'Escalating…');
    // PagerDuty gets the text as plain text no reader turns into markup: angle brackets stay escaped
    // as Slack sent them (lib/slack/commands.ts, pagerDutyText), and on-call reads them so.
    const pagerDutyTitle = 'db &lt;down&gt; & out';
    await incident(pagerDutyTitle).waitFor();
    await stack.waitForIdle();
    await page.waitForTimeout(100);
    const initech = column('CINITECH');
    expect(await initech.locator('.message.ephemeral').allInnerTexts()).toEqual([expect.stringMatching(/Only visible to you\s+Escalating…$/)]);
    // The command itself is not posted (Slack shows it to nobody); the router's confirmation is.
    expect(await initech.locator('.message.from-customer').count()).toBe(0);
    await shows('CINITECH', 'On-call has been paged');
    expect(await initech.innerText()).toContain('db <down> & out');
    expect(await initech.innerText()).not.toMatch(/&lt;|&gt;|&amp;/);
    expect(await incident(pagerDutyTitle).locator('h3').innerText()).toBe(pagerDutyTitle);

    // In a channel that is not a customer's, the router answers later through the response_url:
    // the console shows that answer to the user who typed the command, and pages no one.
    const incidentsBefore = stack.pagerDuty!.incidents.size;
    const typed = await fetch(`${stack.url}/sandbox/channels/CNOTACUST1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: '/piiano-pd-trigger db down' }) });
    expect(typed.status).toBe(200);
    await stack.waitForIdle();
    const answers = stack.slack!.ephemerals.filter((e) => e.channel === 'CNOTACUST1');
    expect(answers.length).toBeGreaterThanOrEqual(2);
    expect(answers.map((e) => [e.user, e.viaResponseUrl])).toEqual(answers.map(() => ['UNOTACUST1', true]));
    expect(answers.slice(1).map((e) => e.text)).not.toContain('Escalating…');
    expect(stack.pagerDuty!.incidents.size).toBe(incidentsBefore);

    // On-call opens an internal incident by hand, with a long unbroken title that must wrap.
    const long = `INTERNAL:${'x'.repeat(300)}`;
    await page.getByRole('textbox', { name: 'Title of an internal incident' }).fill(long);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await incident(long).waitFor();
    const panel = page.locator('#incident-list');
    expect(await panel.evaluate((list) => list.scrollWidth <= list.clientWidth)).toBe(true);

    // Retitle it, then merge Globex's incident into it: Globex is told, without the target's details.
    const card = incident(long);
    await card.getByRole('textbox', { name: /^New title for #/ }).fill('INTERNAL: pg-shared-3 disk full');
    await card.getByRole('button', { name: 'Retitle' }).click();
    await incident('INTERNAL: pg-shared-3 disk full').waitFor();
    const target = await incident('INTERNAL: pg-shared-3 disk full').getAttribute('data-incident-id');
    const globexCard = incident(GLOBEX);
    await globexCard.locator('select[name="into"]').selectOption(target!);
    await globexCard.getByRole('button', { name: 'Merge' }).click();
    await shows('CGLOBEX', 'handled together with a related incident');
    expect(await incident(GLOBEX).locator('.pill').innerText()).toMatch(/resolved/i);
    expect(await column('CGLOBEX').innerText()).not.toMatch(/INTERNAL|pg-shared/);
  });

  (hasChromium ? it : it.skip)('shows a customer registered while it is open, and its Page on-call pages once and Cancel pages nobody', async () => {
    await page.goto(`${stack.url}/sandbox`);
    await page.locator('#connection.live').waitFor();
    // Registered the way `npm run customers -- add CUMBRELLA --name "Umbrella Corp" --confirm` does, with the page open.
    await httpCustomerAdmin(stack.url, stack.adminToken).add({ channel: 'CUMBRELLA', name: 'Umbrella Corp', confirm: true });
    const card = page.locator('[data-channel="CUMBRELLA"] .customer-card');
    await card.filter({ hasText: 'Umbrella Corp' }).waitFor();
    expect(await card.innerText()).toMatch(/^Umbrella Corp\s+3 of 3 pages left this hour\s+confirmation on\s+last 30 days: 0 asked$/);

    // Every column beside the PagerDuty panel, never under it, each wide enough to read.
    const layout = async () => {
      const panel = (await page.locator('.oncall').boundingBox())!;
      const area = (await page.locator('#columns').boundingBox())!;
      const boxes = await page.locator('.channel').evaluateAll((sections) => sections.map((s) => ({ id: (s as HTMLElement).dataset.channel!, ...(s.getBoundingClientRect().toJSON() as { x: number; y: number; width: number; height: number }) })));
      return { panel, area, boxes };
    };
    const fitsBesidePanel = ({ panel, area, boxes }: Awaited<ReturnType<typeof layout>>) => {
      expect(area.x + area.width).toBeLessThanOrEqual(panel.x);
      for (const box of boxes) {
        expect([box.id, box.x >= area.x, box.x + box.width <= area.x + area.width]).toEqual([box.id, true, true]);
        expect(box.width).toBeGreaterThanOrEqual(280);
        expect(box.height).toBeGreaterThanOrEqual(300);
      }
    };
    const wide = await layout();
    // Customers first, in the registry's order; a channel that is not a customer's (the test before typed in one) after them.
    expect(wide.boxes.map((b) => b.id).slice(0, 4)).toEqual(['CACME', 'CGLOBEX', 'CINITECH', 'CUMBRELLA']);
    fitsBesidePanel(wide);
    await page.mouse.move(0, 0);
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'sandbox-console-four-customers.png') });
    // On a narrower screen the channels wrap onto a second row: none is cut off or hidden sideways.
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.waitForTimeout(100);
    const narrow = await layout();
    fitsBesidePanel(narrow);
    expect(await page.locator('#columns').evaluate((area) => area.scrollWidth <= area.clientWidth)).toBe(true);
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'sandbox-console-narrow.png') });
    await page.setViewportSize({ width: 1600, height: 1000 });

    const umbrellaColumn = column('CUMBRELLA');
    const box = page.getByRole('textbox', { name: 'Message #cumbrella' });
    const pages = () => stack.pagerDuty!.triggers.filter((t) => JSON.stringify(t.payload).includes('Vault is sealed')).length;
    // Page on-call: the prompt is rewritten without its buttons, and on-call is paged once.
    await box.fill('@bot escalate Vault is sealed');
    await box.press('Enter');
    await umbrellaColumn.getByRole('button', { name: 'Page on-call' }).waitFor();
    expect(pages()).toBe(0);
    await umbrellaColumn.getByRole('button', { name: 'Page on-call' }).click();
    await shows('CUMBRELLA', 'Paging on-call (confirmed by @Cumbrella customer)');
    await incident('Vault is sealed').waitFor();
    await shows('CUMBRELLA', 'On-call has been paged');
    await stack.waitForIdle();
    expect(pages()).toBe(1);
    expect(await umbrellaColumn.getByRole('button', { name: /Page on-call|Cancel/ }).count()).toBe(0);
    expect(await umbrellaColumn.innerText()).not.toContain('Only visible to you');

    // Cancel: the prompt says so and nobody is paged.
    const incidentsBefore = stack.pagerDuty!.incidents.size;
    const triggersBefore = stack.pagerDuty!.triggers.length;
    await box.fill('@bot escalate Backups look stale');
    await box.press('Enter');
    await umbrellaColumn.getByRole('button', { name: 'Cancel' }).waitFor();
    await umbrellaColumn.getByRole('button', { name: 'Cancel' }).click();
    await shows('CUMBRELLA', 'Cancelled by @Cumbrella customer: on-call was not paged.');
    await stack.waitForIdle();
    expect(stack.pagerDuty!.triggers.length).toBe(triggersBefore);
    expect(stack.pagerDuty!.incidents.size).toBe(incidentsBefore);
    expect(await umbrellaColumn.getByRole('button', { name: /Page on-call|Cancel/ }).count()).toBe(0);
    expect(await card.innerText()).toMatch(/^Umbrella Corp\s+2 of 3 pages left this hour/);
    // Nothing of Umbrella's reached another channel.
    for (const other of ['CACME', 'CGLOBEX', 'CINITECH']) expect(await column(other).innerText()).not.toMatch(/Vault|Backups|Umbrella/);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(ROOT, 'test-results', 'sandbox-console-confirm.png') });
  });

  (hasChromium ? it : it.skip)('says clearly when the stack is gone, and recovers when it is back', async () => {
    await page.goto(`${stack.url}/sandbox`);
    await page.locator('#connection.live').waitFor();
    const port = Number(new URL(stack.url).port);
    await stack.stop();
    const banner = page.locator('#stack-gone');
    await banner.waitFor({ state: 'visible' });
    expect(await banner.innerText()).toMatch(/^The pd-router stack is not answering: is `npm start` still running\?/);
    // An action meanwhile says the same, not the browser's "Failed to fetch".
    const box = page.getByRole('textbox', { name: 'Message #customer-acme' });
    await box.fill('@bot escalate while it is gone');
    await box.press('Enter');
    await page.locator('[data-channel="CACME"] .composer-error', { hasText: /^Not sent: The pd-router stack is not answering/ }).waitFor();

    stack = await startStack({ env: {}, port, logLevel: 'silent', retryBaseSeconds: 0, visibilityTimeoutSeconds: 5, standIns: { channelNames: SANDBOX_CHANNEL_NAMES }, routes: sandboxConsole({ channels: SANDBOX_CHANNELS }) });
    await page.locator('#connection.live').waitFor({ timeout: 15_000 });
    expect(await banner.isHidden()).toBe(true);
  });
});
