import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IncidentStatus } from '../events';
import { attributeNames, expiryEpoch, isConditionFailure, putNew, queryIndexPage, readItem, storeCall } from './dynamo';
import { TransientError } from '../errors';
import { getItems } from './batch-get';
import { LAYOUT } from '../layout/layout';

const TTL = LAYOUT.table.ttlAttribute;
const OPEN_INDEX = LAYOUT.table.openLinkIndex;
/** The one value of the open-link index's key: a link carries it while its incident is not resolved. */
const OPEN = 'open';

/**
 * How far past the time the reconciler read a status (the incident's last_status_change_at) a
 * webhook of the same status still counts as the same change: PagerDuty stamps the webhook's
 * occurred_at and the incident's last_status_change_at separately.
 */
export const SAME_CHANGE_MS = 5_000;

/**
 * Whether the reconciler already told the channel what this webhook event says, so the webhook
 * must post nothing: its status (at its time) is the one the reconciler recorded from the REST
 * API, or it is older than that. Only the reconciler's records count: between webhooks, an older
 * event is still told as history (with the newest status), as it always was.
 */
export function toldByReconciler(link: Pick<IncidentLink, 'status' | 'statusAt' | 'statusSource'>, status: IncidentStatus, occurredAt: string): boolean {
  if (link.statusSource !== 'reconciler' || !link.statusAt) return false;
  if (occurredAt <= link.statusAt) return true;
  return status === link.status && Date.parse(occurredAt) - Date.parse(link.statusAt) <= SAME_CHANGE_MS;
}

/** Where an escalation stands. Each step moves forward only, with a conditional write. */
export type LinkState = 'pending' | 'triggered' | 'rejected' | 'folded';

/** The link between one escalation (dedup_key) and the Slack channel that raised it. */
export interface IncidentLink {
  dedupKey: string;
  team: string;
  channel: string;
  /** The thread every message about this incident goes to (absent until a slash command's confirmation is posted). */
  threadTs?: string;
  requester: string;
  summary: string;
  createdAt: string;
  state: LinkState;
  rejectedReason?: string;
  /** Over the channel's page budget: added to this open escalation of the channel instead of paging again. */
  foldedInto?: string;
  /** How it was raised: a mention or the slash command. */
  via?: 'mention' | 'command';
  /**
   * For a customer whose paging needs a click: asked (the prompt is posted), then confirmed,
   * cancelled, expired or refused (clicked while the delivery gate refused the channel). Only a
   * confirmed escalation pages.
   */
  confirmation?: 'asked' | 'confirmed' | 'cancelled' | 'expired' | 'refused';
  promptTs?: string;
  decidedBy?: string;
  /** The customer registration it was raised under (see Customer.registrationId); absent on links made before it existed. */
  registrationId?: string;
  /** The customer's names rule when it escalated (`SHOW_RESPONDER_NAMES` or the customer's own). */
  showNames?: boolean;
  /** The channel's own number for this escalation (its first is 1): shown instead of PagerDuty's. */
  ref?: number;
  /**
   * The PagerDuty incident that holds this escalation's alert, set only from evidence (see
   * lib/tenancy/ownership.ts). `heldBy` says which: its own incident, or another one its alert
   * was grouped or merged into.
   */
  incidentId?: string;
  heldBy?: 'own' | 'grouped' | 'merged';
  /** The newest status we know of the incident that holds it, and when PagerDuty says it happened. */
  status?: IncidentStatus;
  statusAt?: string;
  /** Who recorded the status: a webhook, or the reconciler reading the REST API (which then told the channel). */
  statusSource?: 'webhook' | 'reconciler';
  /** When PagerDuty accepted the escalation's trigger (the no-incident answer counts from here). */
  acceptedAt?: string;
  /**
   * When the reconciler told the channel that no incident holds its escalation (yet). Only then is
   * its own incident's opening told in the thread: otherwise the confirmation ("paged",
   * Triggered) already says it, and one more post per channel would share Slack's limit with the
   * confirmations of an outage.
   */
  noIncidentToldAt?: string;
  confirmationTs?: string;
  /** What the confirmation shows now (confirmationFor's fingerprint): a refresh that would show the same is skipped. */
  confirmationShown?: string;
  /** The paced turn (epoch ms) reserved for re-rendering the confirmation, until it is used. */
  confirmationTurnAt?: number;
}

export type NewIncidentLink = Pick<IncidentLink, 'dedupKey' | 'team' | 'channel' | 'threadTs' | 'requester' | 'summary' | 'showNames' | 'via' | 'registrationId'>;

/** How long a confirmation prompt waits for its click before it pages no one. */
export const CONFIRMATION_LIFETIME_MS = 15 * 60 * 1000;

/** How a link came to be held by an incident: the evidence ownership found. */
export type Evidence = 'own-key' | 'alert' | 'merge';

/**
 * Binding a link to the incident that holds it: the port only ownership (lib/tenancy/ownership.ts)
 * is given, so that which incident holds an escalation is decided from evidence in one place.
 * Every other user of the store gets {@link IncidentLinks}, which cannot bind.
 */
export interface LinkBinding {
  /**
   * Bind the link to the incident that holds it. `own-key` and `alert` evidence bind only a link
   * that no incident holds yet; `merge` evidence moves a link from `from` (the merged incident)
   * to `incidentId`. Idempotent: binding again to the same incident changes nothing. Returns the
   * link as stored and whether this call bound it. The link's channel joins the incident's
   * channels, read ahead by {@link IncidentLinks.followersOf}.
   */
  bind(link: Pick<IncidentLink, 'dedupKey' | 'channel'>, incidentId: string, evidence: Evidence, from?: string): Promise<{ link: IncidentLink; bound: boolean }>;
}

/**
 * The store of links, keyed by dedup_key, and for each PagerDuty incident the links it holds.
 * (Binding a link to an incident is {@link LinkBinding}, ownership's alone.)
 */
export interface IncidentLinks {
  /** Create the link, or return the one an earlier attempt created. */
  create(link: NewIncidentLink): Promise<{ link: IncidentLink; created: boolean }>;
  get(dedupKey: string): Promise<IncidentLink | undefined>;
  /**
   * Every link an incident has ever held, in one read (the caller checks which it still holds).
   * `channels`: told the channels of those links as soon as the incident's item is read, before
   * the links are, so that what is asked of each channel (the registry, for the delivery gate)
   * is read beside them. A hint: a link bound before channels were kept adds none.
   */
  followersOf(incidentId: string, channels?: (channels: string[]) => void): Promise<IncidentLink[]>;
  /**
   * pending → triggered (with the channel's number for it, in the same write) or rejected;
   * returns the link as stored afterwards.
   */
  settle(dedupKey: string, outcome: { state: 'triggered'; ref: number } | { state: 'rejected'; reason?: string }): Promise<IncidentLink>;
  /** pending → folded into another open escalation of the channel; returns the link as stored. */
  fold(dedupKey: string, into: string): Promise<IncidentLink>;
  setThread(dedupKey: string, threadTs: string): Promise<IncidentLink>;
  /** The confirmation is posted, showing `shown` (a fingerprint of what it shows). */
  setConfirmation(dedupKey: string, ts: string, shown: string): Promise<IncidentLink>;
  /** Keep a paced turn for re-rendering the confirmation; a turn already kept wins. Returns the link as stored. */
  keepConfirmationTurn(dedupKey: string, at: number): Promise<IncidentLink>;
  /** The confirmation was re-rendered to show `shown` (its turn, if any, is used up). */
  confirmationShows(dedupKey: string, shown: string): Promise<IncidentLink>;
  /** Give up the kept turn (Slack refused it anyway): the next attempt takes a new one. */
  dropConfirmationTurn(dedupKey: string): Promise<void>;
  /** The confirmation prompt is posted (asked, once). */
  askConfirmation(dedupKey: string, promptTs: string): Promise<IncidentLink>;
  /**
   * The click's decision, once: asked → confirmed, cancelled, expired or refused, whoever clicks first.
   * Returns the link as stored (a later click finds the first decision).
   */
  decide(dedupKey: string, decision: 'confirmed' | 'cancelled' | 'expired' | 'refused', by: string): Promise<IncidentLink>;
  /** Give the link its per-channel reference, once (a second call keeps the first number). */
  setRef(dedupKey: string, ref: number): Promise<IncidentLink>;
  /**
   * Record a status if it is newer than the one stored (by PagerDuty's occurred_at); an older
   * event never moves the status back. Returns the link as stored and whether it moved.
   */
  advanceStatus(dedupKey: string, status: IncidentStatus, occurredAt: string): Promise<{ link: IncidentLink; advanced: boolean }>;
  /**
   * The reconciler's record of a status read from the REST API (at the incident's
   * last_status_change_at): only when it differs from the status stored and is newer, and never
   * over a webhook's record of the same status. A resolved link stays in the open-link index until
   * `close`. Returns the link as stored and whether it moved.
   */
  recordReconciledStatus(dedupKey: string, status: IncidentStatus, at: string): Promise<{ link: IncidentLink; advanced: boolean }>;
  /**
   * Note that the channel is being told no incident holds its escalation, only while none does:
   * the same item binding writes, so either the notice is noted first and the incident's opening
   * is told after it, or the incident was bound first and no notice goes out. True when noted (by
   * this call or an earlier attempt while still unbound).
   */
  noteNoIncidentNotice(dedupKey: string, at: string): Promise<boolean>;
  /**
   * One page of the links whose incident is not resolved (the sparse open-link index, in the order
   * of their dedup keys); pass `cursor` back for the next. `after`: start past this escalation's
   * link instead of at the first (it need not be open any more).
   */
  listOpen(options?: { limit?: number; cursor?: Record<string, unknown>; after?: string }): Promise<{ links: IncidentLink[]; cursor?: Record<string, unknown> }>;
  /** Take a link out of the open-link index (the reconciler told its resolution, or gave up on it). */
  close(dedupKey: string): Promise<void>;
  /** The escalation whose thread this is (`channel`, thread ts), or undefined for any other thread. */
  byThread(channel: string, threadTs: string): Promise<string | undefined>;
}



/** Attributes earlier versions stored from PagerDuty's incident: never read back, never shown. */
const RETIRED_ATTRIBUTES = ['incidentNumber', 'incidentUrl', 'incidentTitle'];

function toLink(item: Record<string, unknown> | undefined): IncidentLink | undefined {
  if (!item) return undefined;
  const { pk: _pk, [TTL]: _ttl, [OPEN_INDEX.partitionKey]: _open, ...rest } = item;
  for (const retired of RETIRED_ATTRIBUTES) delete rest[retired];
  return rest as unknown as IncidentLink;
}

const HELD_BY: Record<Evidence, NonNullable<IncidentLink['heldBy']>> = { 'own-key': 'own', alert: 'grouped', merge: 'merged' };


/**
 * What the slack-worker does with links: an escalation's own steps, from its creation to its
 * close. The pagerduty-worker has its own ({@link UpdateLinks}), the reconciler all of them
 * ({@link makeIncidentLinks}): each bundle carries only the steps its worker takes.
 */
export type EscalationLinks = Pick<IncidentLinks, 'get' | 'create' | 'settle' | 'fold' | 'setThread' | 'setConfirmation' | 'confirmationShows' | 'askConfirmation' | 'decide' | 'setRef' | 'byThread' | 'close'>;

type StoreOptions = { ttlDays: number; now?: () => Date };

/** The reads and writes every step is made of, on the one table. */
function linkItems(db: DynamoDBDocumentClient, tableName: string, options: StoreOptions) {
  const now = options.now ?? (() => new Date());
  const linkKey = (dedupKey: string) => ({ pk: `link#${dedupKey}` });
  const incidentKey = (incidentId: string) => ({ pk: `incident#${incidentId}` });
  const expiresAt = () => expiryEpoch(now(), options.ttlDays);
  const threadKey = (channel: string, threadTs: string) => ({ pk: `thread#${channel}#${threadTs}` });

  /**
   * The pointer from a thread to its escalation, so a reply finds its link in one read. Written
   * once (a conditional put); every path that gives a link its thread writes it again, so a crash
   * between the link's write and this one is repaired by the retry.
   */
  const pointThread = async (link: IncidentLink | undefined) => {
    if (!link?.threadTs) return;
    await putNew(db, tableName, { ...threadKey(link.channel, link.threadTs), dedupKey: link.dedupKey, [TTL]: expiresAt() });
  };

  const get = async (dedupKey: string) =>
    toLink(await readItem(db, tableName, linkKey(dedupKey)));

  const update = async (dedupKey: string, expression: string, values: Record<string, unknown>, condition?: string) => {
    const result = await storeCall('update', () =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: linkKey(dedupKey),
          UpdateExpression: expression,
          ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          ...attributeNames(`${expression} ${condition ?? ''}`),
          ConditionExpression: condition ? `attribute_exists(pk) AND (${condition})` : 'attribute_exists(pk)',
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return toLink(result.Attributes)!;
  };

  /** A step that happens once: when its condition says it already happened, the link as it stands. */
  const updateOnce = async (dedupKey: string, expression: string, values: Record<string, unknown>, condition: string) => {
    try {
      return await update(dedupKey, expression, values, condition);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return (await get(dedupKey))!;
    }
  };

  /** The confirmation now shows this (both workers bring it up to date); any turn kept for it is spent. */
  const confirmationShows = (dedupKey: string, shown: string) => update(dedupKey, 'SET confirmationShown = :shown REMOVE confirmationTurnAt', { ':shown': shown });

  return { now, linkKey, incidentKey, expiresAt, threadKey, pointThread, get, update, updateOnce, confirmationShows };
}

type LinkItems = ReturnType<typeof linkItems>;

function escalationSteps(db: DynamoDBDocumentClient, tableName: string, items: LinkItems): EscalationLinks {
  const { now, linkKey, expiresAt, threadKey, pointThread, get, update, updateOnce } = items;
  return {
    get,
    async create(input) {
      const link: IncidentLink = { ...input, createdAt: now().toISOString(), state: 'pending' };
      // The thread's pointer beside the link, not after it: one round trip less before the page.
      // A reply cannot find the pointer before the link: replies and escalations of a channel
      // share its queue group, so the reply is handled after this escalation's write.
      const pointed = pointThread(link);
      pointed.catch(() => undefined);
      // Open from the start: the reconciler also looks after links no incident holds yet.
      const created = await putNew(db, tableName, { ...linkKey(input.dedupKey), ...link, [OPEN_INDEX.partitionKey]: OPEN, [TTL]: expiresAt() });
      await pointed;
      if (created) return { link, created };
      const existing = await get(input.dedupKey);
      if (!existing) throw new TransientError('link vanished between put and get');
      await pointThread(existing);
      return { link: existing, created };
    },
    async settle(dedupKey, outcome) {
      try {
        if (outcome.state === 'triggered') {
          // A number given earlier (the older two-step settle) is kept.
          return await update(dedupKey, 'SET #state = :state, acceptedAt = :now, #ref = if_not_exists(#ref, :ref)', { ':state': 'triggered', ':pending': 'pending', ':now': now().toISOString(), ':ref': outcome.ref }, '#state = :pending');
        }
        const { reason } = outcome;
        return await update(
          dedupKey,
          `SET #state = :state${reason === undefined ? '' : ', rejectedReason = :reason'} REMOVE ${OPEN_INDEX.partitionKey}`,
          { ':state': 'rejected', ':pending': 'pending', ...(reason === undefined ? {} : { ':reason': reason }) },
          '#state = :pending',
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return (await get(dedupKey))!;
      }
    },
    async fold(dedupKey, into) {
      // Folded, it follows nothing of its own: out of the open-link index.
      return updateOnce(dedupKey, `SET #state = :folded, foldedInto = :into REMOVE ${OPEN_INDEX.partitionKey}`, { ':folded': 'folded', ':into': into, ':pending': 'pending' }, '#state = :pending');
    },
    async setThread(dedupKey, threadTs) {
      const link = await updateOnce(dedupKey, 'SET threadTs = :ts', { ':ts': threadTs }, 'attribute_not_exists(threadTs)');
      await pointThread(link);
      return link;
    },
    async setConfirmation(dedupKey, ts, shown) {
      return update(dedupKey, 'SET confirmationTs = :ts, confirmationShown = :shown', { ':ts': ts, ':shown': shown });
    },
    confirmationShows: items.confirmationShows,
    async askConfirmation(dedupKey, promptTs) {
      return updateOnce(dedupKey, 'SET confirmation = :asked, promptTs = :ts', { ':asked': 'asked', ':ts': promptTs }, 'attribute_not_exists(confirmation)');
    },
    async decide(dedupKey, decision, by) {
      return updateOnce(dedupKey, 'SET confirmation = :decision, decidedBy = :by', { ':decision': decision, ':by': by, ':asked': 'asked' }, 'confirmation = :asked');
    },
    async setRef(dedupKey, ref) {
      return updateOnce(dedupKey, 'SET #ref = :ref', { ':ref': ref }, 'attribute_not_exists(#ref)');
    },
    async byThread(channel, threadTs) {
      const item = await readItem(db, tableName, threadKey(channel, threadTs));
      return typeof item?.dedupKey === 'string' ? item.dedupKey : undefined;
    },
    async close(dedupKey) {
      await update(dedupKey, `REMOVE ${OPEN_INDEX.partitionKey}`, {}).catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
    },
  };
}

function bindingOf(db: DynamoDBDocumentClient, tableName: string, items: LinkItems): LinkBinding {
  const { incidentKey, expiresAt, get, update } = items;
  return {
    async bind({ dedupKey, channel }, incidentId, evidence, from) {
      // The incident's set of links first: a set add is idempotent, and a member whose link is
      // held elsewhere is skipped by every reader, so a failed bind below leaves nothing wrong.
      await storeCall('update', () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: incidentKey(incidentId),
            UpdateExpression: `ADD links :key, channels :channel SET ${TTL} = :expires`,
            ExpressionAttributeValues: { ':key': new Set([dedupKey]), ':channel': new Set([channel]), ':expires': expiresAt() },
          }),
        ),
      );
      // Written without reading first (the common case, a first bind, costs one call): already held
      // by this incident fails the condition like any other holder, so heldBy is never rewritten.
      const condition = evidence === 'merge' ? 'incidentId = :from AND incidentId <> :id' : 'attribute_not_exists(incidentId)';
      try {
        const link = await update(
          dedupKey,
          'SET incidentId = :id, heldBy = :heldBy',
          { ':id': incidentId, ':heldBy': HELD_BY[evidence], ...(evidence === 'merge' ? { ':from': from ?? '' } : {}) },
          condition,
        );
        return { link, bound: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const link = await get(dedupKey);
        if (!link) throw new TransientError('link vanished while binding it to an incident');
        return { link, bound: false };
      }
    },
  };
}

/** The slack-worker's links, binding included: the composition root gives the binding to ownership alone. */
export function makeEscalationLinks(db: DynamoDBDocumentClient, tableName: string, options: StoreOptions): EscalationLinks & LinkBinding {
  const items = linkItems(db, tableName, options);
  return { ...escalationSteps(db, tableName, items), ...bindingOf(db, tableName, items) };
}

/** What the pagerduty-worker does with links: read an incident's followers, and record what each was shown. */
export type UpdateLinks = Pick<IncidentLinks, 'get' | 'followersOf' | 'advanceStatus' | 'confirmationShows' | 'keepConfirmationTurn' | 'dropConfirmationTurn'>;

function updateSteps(db: DynamoDBDocumentClient, tableName: string, items: LinkItems): UpdateLinks {
  const { incidentKey, linkKey, get, update, updateOnce } = items;
  return {
    get,
    confirmationShows: items.confirmationShows,
    async followersOf(incidentId, channels) {
      const holder = await readItem(db, tableName, incidentKey(incidentId));
      // DynamoDB keeps no empty set: present, it names at least one channel.
      if (holder?.channels) channels?.([...(holder.channels as Set<string>)]);
      // `dedupKey` is the single pointer earlier versions wrote; `links` is the set written now.
      const keys = new Set<string>([...((holder?.links as Set<string> | undefined) ?? []), ...(typeof holder?.dedupKey === 'string' ? [holder.dedupKey] : [])]);
      const pks = [...keys].sort().map((key) => linkKey(key).pk);
      const items = await getItems(db, tableName, pks);
      return pks.flatMap((pk) => toLink(items.get(pk)) ?? []);
    },
    async keepConfirmationTurn(dedupKey, at) {
      return updateOnce(dedupKey, 'SET confirmationTurnAt = :at', { ':at': at }, 'attribute_not_exists(confirmationTurnAt)');
    },
    async dropConfirmationTurn(dedupKey) {
      await update(dedupKey, 'REMOVE confirmationTurnAt', {});
    },
    async advanceStatus(dedupKey, status, occurredAt) {
      try {
        // The second half is toldByReconciler as a condition: a webhook never overwrites the
        // reconciler's record of the same change, so deciding whether to post stays a function of
        // the stored link however often the event is retried.
        const sameChangeFrom = new Date(Date.parse(occurredAt) - SAME_CHANGE_MS).toISOString();
        const link = await update(
          dedupKey,
          `SET #status = :status, statusAt = :at, statusSource = :webhook ${openIndexUpdate(status)}`,
          { ':status': status, ':at': occurredAt, ':webhook': 'webhook', ':reconciler': 'reconciler', ':sameChangeFrom': sameChangeFrom, ...openIndexValues(status) },
          '(attribute_not_exists(statusAt) OR statusAt < :at) AND (attribute_not_exists(statusSource) OR statusSource <> :reconciler OR #status <> :status OR statusAt < :sameChangeFrom)',
        );
        return { link, advanced: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const link = await get(dedupKey);
        if (!link) throw new TransientError('link vanished while advancing its status');
        return { link, advanced: false };
      }
    },
  };
}

/** The pagerduty-worker's links, binding included: the composition root gives the binding to ownership alone. */
export function makeUpdateLinks(db: DynamoDBDocumentClient, tableName: string, options: StoreOptions): UpdateLinks & LinkBinding {
  const items = linkItems(db, tableName, options);
  return { ...updateSteps(db, tableName, items), ...bindingOf(db, tableName, items) };
}

/** The whole store (the reconciler's), binding included: the composition root gives the binding to ownership alone. */
export function makeIncidentLinks(db: DynamoDBDocumentClient, tableName: string, options: StoreOptions): IncidentLinks & LinkBinding {
  const items = linkItems(db, tableName, options);
  const { get, update } = items;
  return {
    ...escalationSteps(db, tableName, items),
    ...updateSteps(db, tableName, items),
    ...bindingOf(db, tableName, items),
    async recordReconciledStatus(dedupKey, status, at) {
      try {
        const link = await update(
          dedupKey,
          // A resolved link stays listed until the reconciler has told it (then `close`).
          `SET #status = :status, statusAt = :at, statusSource = :reconciler${status === 'resolved' ? '' : openIndexUpdate(status)}`,
          { ':status': status, ':at': at, ':reconciler': 'reconciler', ...openIndexValues(status) },
          '(attribute_not_exists(statusAt) OR statusAt < :at) AND (attribute_not_exists(#status) OR #status <> :status)',
        );
        return { link, advanced: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const link = await get(dedupKey);
        if (!link) throw new TransientError('link vanished while recording its status');
        return { link, advanced: false };
      }
    },
    async noteNoIncidentNotice(dedupKey, at) {
      try {
        await update(dedupKey, 'SET noIncidentToldAt = if_not_exists(noIncidentToldAt, :at)', { ':at': at }, 'attribute_not_exists(incidentId)');
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return false;
      }
    },
    async listOpen({ limit = 100, cursor, after } = {}) {
      const start = cursor ?? (after !== undefined ? { ...items.linkKey(after), [OPEN_INDEX.partitionKey]: OPEN } : undefined);
      const page = await queryIndexPage(db, tableName, OPEN_INDEX, OPEN, { limit, ...(start ? { cursor: start } : {}) });
      return { links: page.items.map((item) => toLink(item)!), ...(page.lastKey ? { cursor: page.lastKey } : {}) };
    },
  };
}

/** A resolved link leaves the open-link index; any other status (a reopened incident too) puts it back. */
function openIndexUpdate(status: IncidentStatus): string {
  return status === 'resolved' ? `REMOVE ${OPEN_INDEX.partitionKey}` : `, ${OPEN_INDEX.partitionKey} = :open`;
}

function openIndexValues(status: IncidentStatus): Record<string, string> {
  return status === 'resolved' ? {} : { ':open': OPEN };
}
