import type { SlackActionEvent, SlackMessageEvent, SlackReplyEvent } from '../../lib/events';
import type { Logger } from '../../lib/runtime/log';
import type { Severity } from '../../lib/pagerduty/api';
import type { WorkerParts } from '../shared/worker-runtime';
import { makeDeliveryGate, type Actor, type DeliveryGate } from '../../lib/escalation/delivery-gate';
import { settingsFor, type CustomerSettings } from '../../lib/escalation/customer-settings';
import type { Locator } from '../../lib/tenancy/ownership';
import type { EscalationLinks } from '../../lib/store/incident-links';
import type { ChannelReferences } from '../../lib/store/channel-references';
import type { PageBudget } from '../../lib/store/page-budget';
import type { WindowPacer } from '../../lib/store/window-pacer';
import type { Pacer } from '../../lib/store/pacer';
import { type ChannelScope } from '../../lib/slack/web-api';
import type { CustomerRecord } from '../../lib/store/customer-records';

/** The worker's parts (functions/shared/worker-runtime.ts), with only the settings it reads. */
export interface SlackWorkerDeps extends Omit<WorkerParts<Locator, EscalationLinks>, 'config' | 'checkpoint'> {
  references: ChannelReferences;
  budget: PageBudget;
  /** Notes per incident (thread replies), counted like the page budget. */
  noteBudget: PageBudget;
  /** Turns for triggers under the Events API's limit per routing key; unset: triggers are not paced. */
  triggerPacer?: WindowPacer;
  /** Turns under Slack's workspace-wide chat.postMessage limit, for confirmations Slack refused once; unset: not paced. */
  postPacer?: Pacer;
  config: { pingPhrase: string; slashCommand: string; supportContact: string; showResponderNames: boolean; severity: Severity; pagerDutyFromEmail?: string; slackAppId?: string };
  /** Called after each step that changes something; tests throw here to simulate a crash. */
  checkpoint?: (step: string) => void;
  now?: () => Date;
}

export interface HandleContext {
  logger: Logger;
  /** Which delivery of its queue message this is (1: the first, which has no kept turn). */
  attempt: number;
  finalAttempt: boolean;
}

/** What every step of the slack-worker is built from: its parts, and the few things they all ask. */
export interface StepTools {
  deps: SlackWorkerDeps;
  /** Asked by every step before it shows anything to a channel or acts for one. */
  gate: DeliveryGate;
  ownership: Locator;
  now: () => Date;
  checkpoint: (step: string) => void;
  /**
   * Where a channel is spoken to. One workspace today: a second one is this function choosing the
   * workspace's client by the team the channel belongs to.
   */
  scope: (target: { channel: string; team?: string }) => ChannelScope;
  /** Who acts, for the gate. */
  actorOf: (event: SlackMessageEvent | SlackActionEvent | SlackReplyEvent) => Actor;
  /** One customer's settings over the deployment's. */
  settings: (customer: CustomerRecord) => CustomerSettings;
}

export function makeStepTools(deps: SlackWorkerDeps): StepTools {
  return {
    deps,
    gate: makeDeliveryGate({ customers: deps.customers, slack: deps.slack, ...(deps.config.slackAppId ? { appId: deps.config.slackAppId } : {}) }),
    ownership: deps.ownership,
    now: deps.now ?? (() => new Date()),
    checkpoint: (step) => deps.checkpoint?.(step),
    scope: deps.scopes,
    /**
     * An Events API envelope's `team_id` is the installation's, so it is compared; a click's or a
     * slash command's `team` is the person's own workspace, so it is their organization.
     * `userTeam` (Slack Connect's `user_team`, `user.team_id`) names it when given.
     */
    actorOf: (event) => {
      const envelope = event.kind === 'slack.reply' || (event.kind === 'slack.message' && event.via === 'mention');
      return { ...(envelope ? { eventTeam: event.team } : {}), ...(event.appId ? { appId: event.appId } : {}), org: event.userTeam ?? event.team };
    },
    settings: (customer) => settingsFor(customer, { severity: deps.config.severity, contact: deps.config.supportContact, showResponderNames: deps.config.showResponderNames }),
  };
}
