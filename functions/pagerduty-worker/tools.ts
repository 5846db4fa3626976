import type { PagerDutyApi } from '../../lib/pagerduty/api';
import { type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import type { Effects } from '../../lib/store/effects';
import { type UpdateLinks } from '../../lib/store/incident-links';
import { readAhead, type CustomerRecords } from '../../lib/store/customer-records';
import { makeDeliveryGate, type DeliveryGate } from '../../lib/escalation/delivery-gate';
import { type Ownership } from '../../lib/tenancy/ownership';
import { makeAudience } from '../../lib/tenancy/audience';
import type { EventQueue } from '../../lib/queue/queue';
import type { Pacer } from '../../lib/store/pacer';
import { type HistorySteps } from '../../lib/store/history';
import { makeConfirmationRefresh } from './confirmation-refresh';
import { makeFollowersNote } from './followers-note';

type ConfirmationRefresh = ReturnType<typeof makeConfirmationRefresh>;
type Audience = ReturnType<typeof makeAudience>;

export interface PagerDutyWorkerDeps {
  links: UpdateLinks;
  /** Which escalations an incident holds (the only module that binds a link to one). */
  ownership: Ownership;
  customers: CustomerRecords;
  effects: Effects;
  slack: SlackApi;
  /** Where each channel is spoken to. */
  scopes: ChannelScopes;
  pagerDuty: PagerDutyApi;
  /** This worker's own queue (confirmation refreshes) and the pace they go out at. */
  queue: EventQueue;
  pacer: Pacer;
  /** The pace of every post a webhook or a fan-out makes (see tell.ts); none: not paced. */
  postPacer?: Pacer;
  /** The escalation history (acknowledged, resolved, handled together); absent in tests of other things. */
  history?: HistorySteps;
  /** `pagerDutyFromEmail`: the PagerDuty user that notes telling on-call who follows an incident are added as; unset: none are. */
  config: { showResponderNames: boolean; pagerDutyFromEmail?: string; followersNoteSettleSeconds: number };
  checkpoint?: (step: string) => void;
  now?: () => number;
}

/** What every step of the pagerduty-worker is built from: its parts, and the few things they all ask. */
export interface PagerDutyTools {
  deps: PagerDutyWorkerDeps;
  ownership: Ownership;
  /** Asked for every channel told, fan-out included (lib/escalation/delivery-gate.ts). */
  gate: DeliveryGate;
  confirmations: ConfirmationRefresh;
  /** Tells on-call who follows an incident (lib/tenancy/audience.ts). */
  audience: Audience;
  /** The same, after merges: once they settle (./followers-note.ts). */
  followersNote: ReturnType<typeof makeFollowersNote>;
  now: () => number;
  checkpoint: (step: string) => void;
}

export function makePagerDutyTools(deps: PagerDutyWorkerDeps): PagerDutyTools {
  const gate = makeDeliveryGate({ customers: deps.customers });
  const audience = makeAudience({ ...deps, ...(deps.config.pagerDutyFromEmail ? { fromEmail: deps.config.pagerDutyFromEmail } : {}) });
  return {
    deps,
    ownership: deps.ownership,
    gate,
    confirmations: makeConfirmationRefresh({ ...deps, gate }),
    audience,
    followersNote: makeFollowersNote({ ...deps, audience, settleMs: deps.config.followersNoteSettleSeconds * 1000 }),
    now: deps.now ?? Date.now,
    checkpoint: (step) => deps.checkpoint?.(step),
  };
}

/**
 * The tools for one webhook: its delivery gate reads each channel's registry item once, and
 * `readAhead` starts those reads as soon as the channels are known (the incident's own item names
 * them), beside the reads of the links, instead of one more round trip before each post.
 */
export function toolsForOneEvent(tools: PagerDutyTools): { tools: PagerDutyTools; readAhead: (channels: readonly string[]) => void } {
  const registry = readAhead(tools.deps.customers);
  return { tools: { ...tools, gate: makeDeliveryGate({ customers: registry }) }, readAhead: registry.start };
}
