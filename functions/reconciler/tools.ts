import type { PagerDutyApi } from '../../lib/pagerduty/api';
import type { OpenIncidents, ResolvedPage } from '../../lib/pagerduty/open-incidents';
import type { CustomerRecords } from '../../lib/store/customer-records';
import { makeDeliveryGate, type DeliveryGate } from '../../lib/escalation/delivery-gate';
import { type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import type { Effects } from '../../lib/store/effects';
import { type IncidentLinks } from '../../lib/store/incident-links';
import { type HistorySteps } from '../../lib/store/history';
import type { ReconcilePosition } from '../../lib/store/reconcile-position';
import { type Locator } from '../../lib/tenancy/ownership';
import type { Pacer } from '../../lib/store/pacer';
import type { EventQueue } from '../../lib/queue/queue';

export interface ReconcilerDeps {
  links: IncidentLinks;
  /** Where the last run stopped in the open links: the next goes on after it. */
  position: ReconcilePosition;
  /** Which escalations an incident holds (the only module that binds a link to one). */
  ownership: Locator;
  customers: CustomerRecords;
  effects: Effects;
  /** The escalation history: what the reconciler learns (a status, no incident, an expired prompt) is recorded too. */
  history: HistorySteps;
  slack: SlackApi;
  /** Where each channel is spoken to. */
  scopes: ChannelScopes;
  /** The PagerDuty queue: a confirmation whose status the reconciler caught up is re-rendered by the pagerduty-worker, paced. */
  refreshes: EventQueue;
  /** The pace of the workspace's paced posts (the workers' fan-outs), which catch-ups take turns in; none: not paced. */
  postPacer?: Pacer;
  pagerDuty: PagerDutyApi;
  /** Every incident not resolved, read once a run; absent: each link's incident is read by itself. */
  openIncidents?: () => Promise<OpenIncidents>;
  /** A page of the resolved incidents, most recently resolved first; absent: a link whose incident is not open is read by itself. */
  resolvedIncidents?: (page: number) => Promise<ResolvedPage>;
  config: { noIncidentAfterSeconds: number; supportContact: string };
  /** Links examined side by side (reconciler.ts, LINKS_AT_ONCE unless set). */
  linksAtOnce?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Called after each step that changes something; the crash tests throw here. */
  checkpoint?: (step: string) => void;
}

/** What the reconciler's steps are built from: its parts, and the few things they all ask. */
export interface ReconcilerTools {
  deps: ReconcilerDeps;
  ownership: Locator;
  /** Asked before any channel is told (lib/escalation/delivery-gate.ts). */
  gate: DeliveryGate;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  checkpoint: (step: string) => void;
}

export function makeReconcilerTools(deps: ReconcilerDeps): ReconcilerTools {
  return {
    deps,
    ownership: deps.ownership,
    gate: makeDeliveryGate({ customers: deps.customers }),
    now: deps.now ?? (() => new Date()),
    sleep: deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    checkpoint: (step) => deps.checkpoint?.(step),
  };
}
