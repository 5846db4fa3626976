import { CHECK_STATUS_ACTION_ID } from '../../lib/slack/normalize';
import type { SandboxDriver } from '../sandbox-console/driver';
import { buildTranscripts, customerUserId, type ChannelInfo, type ChannelTranscript } from '../sandbox-console/transcript';
import { sleep } from '../stand-ins/http-util';
import type { StandInIncident } from '../stand-ins/pagerduty';
import { allEntries, countKinds, judge, type MessageKind, type TenantExpectation, type Verdict } from './verdict';

/** The three customers of the scripted scenario and what each channel must hold at the end. */
export const DEMO_TENANTS = [
  {
    channel: 'CACME',
    description: 'Acme: checkout API returns 500 errors since 09:12',
    expected: { escalation: 1, confirmation: 1, acknowledged: 1, reply: 1, resolved: 1, status: 1 },
  },
  {
    channel: 'CGLOBEX',
    description: 'Globex: login page times out for every user',
    expected: { escalation: 1, confirmation: 1, reassigned: 1, together: 1, update: 1, resolved: 1, refusal: 1 },
  },
  {
    channel: 'CINITECH',
    description: 'Initech: single sign-on hangs after the password step',
    expected: { escalation: 1, confirmation: 1, together: 1, update: 1, resolved: 1 },
  },
] as const satisfies readonly { channel: string; description: string; expected: Partial<Record<MessageKind, number>> }[];

/** Not a channel: the provider's own markers, which every customer channel is checked against. */
export const PROVIDER = 'PROVIDER';

export interface DemoResult {
  transcripts: ChannelTranscript[];
  tenants: TenantExpectation[];
  verdict: Verdict;
}

interface Observation {
  transcripts: ChannelTranscript[];
  incidents: StandInIncident[];
}

/** The Check Status button a channel shows (its value and the message it sits on). */
function checkStatusButton(channel: ChannelTranscript | undefined): { value: string; messageTs: string } | undefined {
  for (const entry of channel ? allEntries(channel) : []) {
    for (const block of (entry.blocks ?? []) as { type?: string; elements?: { action_id?: string; value?: string }[] }[]) {
      const button = block.type === 'actions' ? block.elements?.find((e) => e.action_id === CHECK_STATUS_ACTION_ID) : undefined;
      if (button?.value) return { value: button.value, messageTs: entry.ts };
    }
  }
  return undefined;
}

/** What an Acme user adds in the thread; on-call reads it as a note on Acme's incident. */
export const ACME_REPLY = "It's only EU users, since the 09:10 deploy";

/** The provider's own incident for the shared outage: no customer may ever read its title. */
export const INTERNAL_TITLE = 'INTERNAL: auth-shared-2 overloaded; tenants Globex, Initech';

/**
 * What on-call tells stakeholders of the shared outage. The incident is combined (two customers
 * follow it), so neither channel reads its text: each is told that on-call posted an update.
 */
export const STATUS_UPDATE = 'Sign-in is slow for some customers; a fix is rolling out, next update in 30 minutes.';

/**
 * Play the scripted scenario against a running sandbox: three customers escalate in the same
 * second; on-call acknowledges Acme's incident and reassigns Globex's; Globex and Initech turn out
 * to report the same outage, so on-call opens an internal incident and merges both into it,
 * publishes a status update on it that both channels are told of (not its text: the incident is
 * combined), and both follow it to resolution; an Acme user clicks Check Status and a Globex user
 * pastes Acme's button. Only what this run added to the sandbox is judged.
 */
export async function playDemo(driver: SandboxDriver, options: { channels: ChannelInfo[]; log?: (line: string) => void; stepTimeoutMs?: number }): Promise<DemoResult> {
  const log = options.log ?? (() => undefined);
  const before = await driver.records();
  const incidentsBefore = new Set((await driver.incidents()).map((i) => i.id));

  const observe = async (): Promise<Observation> => {
    const records = await driver.records();
    // The stand-in's lists only grow (chat.update edits in place), so what follows the baseline is this run's.
    const fresh = { messages: records.messages.slice(before.messages.length), ephemerals: records.ephemerals.slice(before.ephemerals.length) };
    return { transcripts: buildTranscripts(fresh, options.channels), incidents: (await driver.incidents()).filter((i) => !incidentsBefore.has(i.id)) };
  };
  const channelOf = (o: Observation, id: string) => o.transcripts.find((c) => c.id === id);
  const count = (o: Observation, id: string, kind: MessageKind) => {
    const channel = channelOf(o, id);
    return channel ? (countKinds(channel)[kind] ?? 0) : 0;
  };
  const incidentOf = (o: Observation, channel: string) => o.incidents.find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);

  /** Poll until `done`; on timeout carry on, and let the verdict say what is missing. */
  const waitFor = async (what: string, done: (o: Observation) => boolean): Promise<Observation> => {
    const deadline = Date.now() + (options.stepTimeoutMs ?? 15_000);
    for (;;) {
      const observation = await observe();
      if (done(observation)) return observation;
      if (Date.now() > deadline) {
        log(`   … gave up waiting for ${what}`);
        return observation;
      }
      await sleep(50);
    }
  };

  const [acme, globex] = DEMO_TENANTS;
  const started = Date.now();
  const step = (text: string) => log(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${text}`);

  step('Acme, Globex and Initech escalate in the same second');
  const [acmeMention] = await Promise.all(DEMO_TENANTS.map((t) => driver.say(t.channel, customerUserId(t.channel), `@bot escalate ${t.description}`)));
  let seen = await waitFor('three confirmed incidents', (o) => DEMO_TENANTS.every((t) => count(o, t.channel, 'confirmation') && incidentOf(o, t.channel)));

  step('on-call acknowledges Acme’s incident and reassigns Globex’s');
  const acmeIncident = incidentOf(seen, acme.channel);
  const globexIncident = incidentOf(seen, globex.channel);
  if (acmeIncident) await driver.incidentAction(acmeIncident.id, 'acknowledge');
  if (globexIncident) await driver.incidentAction(globexIncident.id, 'reassign', 'Second On-Call');
  await waitFor('the acknowledgement and the reassignment', (o) => count(o, acme.channel, 'acknowledged') > 0 && count(o, globex.channel, 'reassigned') > 0);

  step('an Acme user adds a detail in the thread: it reaches on-call as a note on the incident');
  if (acmeMention) await driver.say(acme.channel, customerUserId(acme.channel), ACME_REPLY, acmeMention.ts);

  step('Globex and Initech report the same outage: on-call merges both into one internal incident');
  const initech = DEMO_TENANTS[2];
  const initechIncident = incidentOf(seen, initech.channel);
  const internal = await driver.openInternalIncident(INTERNAL_TITLE);
  for (const incident of [globexIncident, initechIncident]) if (incident) await driver.mergeIncident(incident.id, internal.id);
  await waitFor('both channels told', (o) => count(o, globex.channel, 'together') > 0 && count(o, initech.channel, 'together') > 0);

  step('on-call publishes a status update on the internal incident: Globex and Initech are told there is one (its text stays with on-call: the incident is combined), Acme hears nothing');
  await driver.publishStatusUpdate(internal.id, STATUS_UPDATE);
  await waitFor('the status update in both channels', (o) => count(o, globex.channel, 'update') > 0 && count(o, initech.channel, 'update') > 0);

  step('on-call resolves Acme’s incident and the internal one');
  if (acmeIncident) await driver.incidentAction(acmeIncident.id, 'resolve');
  await driver.incidentAction(internal.id, 'resolve');
  seen = await waitFor('three resolutions', (o) => DEMO_TENANTS.every((t) => count(o, t.channel, 'resolved') > 0 && allEntries(channelOf(o, t.channel)!).some((e) => e.text.includes('(resolved)'))));

  step('an Acme user clicks Check Status');
  const acmeButton = checkStatusButton(channelOf(seen, acme.channel));
  if (acmeButton) await driver.clickCheckStatus(acme.channel, customerUserId(acme.channel), acmeButton.value, acmeButton.messageTs);
  step('a Globex user pastes Acme’s button into #customer-globex');
  const globexButton = checkStatusButton(channelOf(seen, globex.channel));
  if (acmeButton) await driver.clickCheckStatus(globex.channel, customerUserId(globex.channel), acmeButton.value, globexButton?.messageTs ?? acmeButton.messageTs);
  await waitFor('both answers', (o) => count(o, acme.channel, 'status') > 0 && count(o, globex.channel, 'refusal') > 0);

  // Quiet for a moment: a doubled delivery would show up now rather than after the verdict.
  let last = JSON.stringify(await observe());
  const quietUntil = Date.now() + 5_000;
  for (let stable = 0; stable < 6 && Date.now() < quietUntil; ) {
    await sleep(100);
    const now = JSON.stringify(await observe());
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  const final = JSON.parse(last) as Observation;
  step('done');

  const tenants: TenantExpectation[] = DEMO_TENANTS.map((t) => {
    const incident = incidentOf(final, t.channel);
    return {
      channel: t.channel,
      markers: [t.description, ...(incident ? [incident.id, incident.incidentKey] : [])],
      expected: t.expected,
      finalStatus: 'resolved',
    };
  });
  // The provider's side: nothing of its internal incident may show in any customer channel.
  tenants.push({ channel: PROVIDER, markers: [INTERNAL_TITLE, 'auth-shared-2', internal.id, internal.incidentKey], expected: {} });
  return { transcripts: final.transcripts, tenants, verdict: judge(final.transcripts, tenants) };
}
