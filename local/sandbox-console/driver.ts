import { randomBytes } from 'node:crypto';
import { CHECK_STATUS_ACTION_ID } from '../../lib/slack/normalize';
import type { SandboxState } from '../sandbox-state';
import type { StandInIncident } from '../stand-ins/pagerduty';
import type { SignedRequest } from '../events/request';
import { blockActionsPayload, eventCallback, signedClick, signedSlackForm, signedSlackJson, slashCommandForm, type SlackButton } from '../events/slack';
import { STAND_IN_BOT_USER_ID, STAND_IN_TEAM_ID } from '../stand-ins/slack';
import type { StandInRecords } from './transcript';

export type IncidentAction = 'acknowledge' | 'reassign' | 'resolve';

export type { SlackButton };

/** How to reach a running sandbox: what `npm start` writes to the sandbox state file. */
export type SandboxEndpoints = Pick<SandboxState, 'url' | 'slackApiUrl' | 'pagerDutyUrl' | 'slackSigningSecret'>;

const TEAM = STAND_IN_TEAM_ID;
/** The sandbox's Slack app, as its requests name it. */
const APP_ID = 'ASANDBOX';
const BOT_ALIAS = /(^|\s)@(?:bot|pd-router)\b/i;

/** Typed text as Slack stores it: `&<>` escaped, and `@bot` turned into a real mention of the bot. */
export function toSlackText(typed: string): string {
  const escaped = typed.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return escaped.replace(BOT_ALIAS, `$1<@${STAND_IN_BOT_USER_ID}>`);
}

/**
 * Plays the customers and the on-call of a running sandbox. Everything it does goes the way the
 * real platforms do it: customer messages are Slack-signed requests to the router's
 * /slack/events, and incident changes are made in the PagerDuty stand-in, which sends its
 * signed webhooks. It only talks HTTP, so the demo can drive a stack started elsewhere.
 */
export class SandboxDriver {
  constructor(private readonly target: SandboxEndpoints) {}

  private get slackStandInUrl(): string {
    return this.target.slackApiUrl.replace(/\/api\/?$/, '');
  }

  /**
   * A customer writes in a channel. The message is put in the channel first (that gives it its
   * ts, as in Slack); when it mentions the bot, Slack's signed `app_mention` follows. Each event
   * goes out only when the app manifest subscribes to it (the Slack stand-in says), as in Slack.
   */
  async say(channel: string, user: string, typed: string, threadTs?: string): Promise<{ ts: string; delivered?: number }> {
    const text = toSlackText(typed);
    const recorded = await this.json<{ ts: string }>(`${this.slackStandInUrl}/sandbox/customer-message`, { channel, user, text, ...(threadTs ? { threadTs } : {}) });
    // A reply in a thread also arrives as Slack's `message` event (message.channels): it may become a note.
    if (threadTs && threadTs !== recorded.ts) {
      const reply = { type: 'message', user, text, ts: recorded.ts, thread_ts: threadTs, channel, team: TEAM, event_ts: recorded.ts, channel_type: 'channel' };
      const replied = await this.slackSends(reply);
      if (!text.includes(`<@${STAND_IN_BOT_USER_ID}>`)) return { ts: recorded.ts, delivered: replied };
    }
    if (!text.includes(`<@${STAND_IN_BOT_USER_ID}>`)) return { ts: recorded.ts };
    const delivered = await this.slackSends({ type: 'app_mention', user, text, ts: recorded.ts, channel, team: TEAM, event_ts: recorded.ts, ...(threadTs ? { thread_ts: threadTs } : {}) });
    return { ts: recorded.ts, ...(delivered !== undefined ? { delivered } : {}) };
  }

  /**
   * Slack's signed `event_callback` for `event`, sent to the router when the app manifest subscribes
   * to it: the router's HTTP status, or undefined when Slack would not send the event.
   */
  async slackSends(event: Record<string, unknown> & { type: string }): Promise<number | undefined> {
    const delivery = await this.json<{ delivered: boolean }>(`${this.slackStandInUrl}/sandbox/delivers`, event);
    if (!delivery.delivered) return undefined;
    const envelope = eventCallback(event, { appId: APP_ID, sharedChannel: true });
    return this.postSlack(signedSlackJson(this.target.slackSigningSecret, envelope));
  }

  /**
   * A customer types a slash command (`/piiano-pd-trigger db down`): Slack's signed form post, with
   * the `response_url` the router answers through later. Returns the router's immediate answer
   * (Slack shows its text to that user only).
   */
  async slashCommand(channel: string, user: string, command: string, text: string, responseUrl: string): Promise<{ response_type?: string; text?: string }> {
    const request = signedSlackForm(this.target.slackSigningSecret, slashCommandForm({ channel, user, command, text, responseUrl, appId: APP_ID }));
    const response = await fetch(`${this.target.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
    const raw = await response.text();
    if (!response.ok) throw new Error(`/slack/events answered ${response.status}`);
    try {
      return raw ? (JSON.parse(raw) as { response_type?: string; text?: string }) : {};
    } catch {
      // Slack shows a plain-text body as it is.
      return { text: raw };
    }
  }

  /** A customer clicks a Check Status button carrying `value` on the message `messageTs` of `channel`. */
  async clickCheckStatus(channel: string, user: string, value: string, messageTs: string): Promise<number> {
    return this.clickButton(channel, user, { action_id: CHECK_STATUS_ACTION_ID, value, text: { type: 'plain_text', text: 'Check Status' } }, { messageTs, blockId: 'status' });
  }

  /**
   * A customer clicks `button` (the element as the message holds it: Check Status, Page on-call,
   * Cancel) in the actions block `at.blockId` of the message `at.messageTs`: Slack's signed
   * `block_actions` payload, form-encoded as Slack posts it, with the message as Slack shows it to
   * the app (`at.message`; absent for an ephemeral one, as in Slack) and a `response_url`.
   */
  async clickButton(channel: string, user: string, button: SlackButton, at: { messageTs: string; blockId: string; message?: Record<string, unknown>; isEphemeral?: boolean; responseUrl?: string }): Promise<number> {
    const payload = blockActionsPayload({
      channel,
      user,
      button,
      messageTs: at.messageTs,
      blockId: at.blockId,
      ...(at.message ? { message: at.message } : {}),
      ...(at.isEphemeral ? { isEphemeral: true } : {}),
      responseUrl: at.responseUrl ?? `${this.slackStandInUrl}/actions/${randomBytes(6).toString('hex')}`,
      appId: APP_ID,
    });
    return this.postSlack(signedClick(this.target.slackSigningSecret, payload));
  }

  /** On-call works an incident in the PagerDuty stand-in; it sends the signed webhook. */
  async incidentAction(id: string, action: IncidentAction, to?: string): Promise<StandInIncident> {
    const result = await this.json<{ incident: StandInIncident }>(`${this.target.pagerDutyUrl}/sandbox/incidents/${encodeURIComponent(id)}/${action}`, to ? { to } : {});
    return result.incident;
  }

  /** On-call merges one incident into another, as in PagerDuty (the merged one resolves with a merge reason). */
  async mergeIncident(from: string, into: string): Promise<StandInIncident> {
    return (await this.json<{ incident: StandInIncident }>(`${this.target.pagerDutyUrl}/sandbox/incidents/${encodeURIComponent(from)}/merge`, { into })).incident;
  }

  /** On-call edits an incident's title (PagerDuty sends no webhook for it). */
  async retitleIncident(id: string, title: string): Promise<StandInIncident> {
    return (await this.json<{ incident: StandInIncident }>(`${this.target.pagerDutyUrl}/sandbox/incidents/${encodeURIComponent(id)}/retitle`, { title })).incident;
  }

  /** On-call publishes a status update for stakeholders (PagerDuty's incident.status_update_published). */
  async publishStatusUpdate(id: string, message: string): Promise<StandInIncident> {
    return (await this.json<{ incident: StandInIncident }>(`${this.target.pagerDutyUrl}/sandbox/incidents/${encodeURIComponent(id)}/status-update`, { message })).incident;
  }

  /** On-call opens an incident by hand, with no customer behind it. */
  async openInternalIncident(title: string): Promise<StandInIncident> {
    return (await this.json<{ incident: StandInIncident }>(`${this.target.pagerDutyUrl}/sandbox/incidents`, { title })).incident;
  }

  async incidents(): Promise<StandInIncident[]> {
    return (await this.json<{ incidents: StandInIncident[] }>(`${this.target.pagerDutyUrl}/sandbox/incidents`)).incidents;
  }

  /** Every message and ephemeral the Slack stand-in holds. */
  async records(): Promise<StandInRecords> {
    return this.json<StandInRecords>(`${this.slackStandInUrl}/sandbox/messages`);
  }

  private async postSlack(request: SignedRequest): Promise<number> {
    const response = await fetch(`${this.target.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`/slack/events answered ${response.status}`);
    return response.status;
  }

  private async json<T>(url: string, body?: unknown): Promise<T> {
    const response = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const parsed = (await response.json()) as T & { error?: string };
    if (!response.ok) throw new Error(parsed.error ?? `${url} answered ${response.status}`);
    return parsed;
  }
}
