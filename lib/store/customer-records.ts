import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { LAYOUT } from '../layout/layout';
import { InvalidInputError, PermanentError, TransientError } from '../errors';
import { attributeNames, isConditionFailure, readItem, storeCall } from './dynamo';
import { SEVERITIES } from '../runtime/settings';

/**
 * The customer registry as the functions use it: one item per customer channel (the channel id
 * is the tenant key), in the one table, under its own `customer#` prefix and in the sparse
 * customer index so that a list reads customers only. A customer's own routing key is a
 * credential: it lives in an item of its own (`routing#<channel>`), so IAM can let only the
 * function that pages read it (`dynamodb:LeadingKeys`, deploy/cloudformation.js); the customer
 * item carries its mask.
 *
 * What the provider's tools do besides (add, update, remove, list, approve) is ./customers.ts,
 * kept apart so that the functions' bundles leave it out.
 */

/** A customer's severity takes the values the deployment's PAGER_DUTY_SEVERITY does. */
export { SEVERITIES };
export type CustomerSeverity = (typeof SEVERITIES)[number];

export const DEFAULT_PAGES_PER_HOUR = 3;

/**
 * Slack channel ids: C (public or Slack Connect) or G (private), then uppercase letters and
 * digits. Real ids have 8 to 11 after the prefix today, and Slack says they may grow; the lower
 * bound is 4 so that the sandbox's readable demo ids (CACME) are customers like any other.
 */
const CHANNEL_ID = /^[CG][A-Z0-9]{4,20}$/;
/** Slack's longest channel name. */
const SLACK_CHANNEL_NAME_MAX_LENGTH = 80;
/** Slack organizations: workspaces (T…) and Enterprise Grid organizations (E…). */
const TEAM_ID = /^[TE][A-Z0-9]{2,15}$/;
/** PagerDuty Events API v2 routing (integration) keys are 32 characters; stay a little lenient. */
const ROUTING_KEY = /^[A-Za-z0-9_-]{20,64}$/;

export const ChannelIdSchema = v.pipe(v.string(), v.regex(CHANNEL_ID, 'a channel id is C or G and 4–20 uppercase letters or digits'));
export const TeamIdSchema = v.pipe(v.string(), v.regex(TEAM_ID, 'an organization id is T or E and uppercase letters or digits'));
/** True when `key` has the shape of a PagerDuty Events API v2 routing key (the doctor checks stored ones). */
export function isWellFormedRoutingKey(key: unknown): boolean {
  return typeof key === 'string' && ROUTING_KEY.test(key);
}

export const RoutingKeySchema = v.pipe(v.string(), v.regex(ROUTING_KEY, 'a routing key is 20–64 letters, digits, - or _'));

/** A response target in whole minutes: up to 30 days. */
export const TargetMinutes = v.pipe(v.number(), v.integer('a target is a whole number of minutes'), v.minValue(1, 'a target is at least one minute'), v.maxValue(43200, 'a target is at most 30 days'));

/** What a provider may set on a customer (add and update take these). */
export const SettingsEntries = {
  name: v.pipe(v.string(), v.trim(), v.minLength(1, 'the name is empty'), v.maxLength(200, 'the name is longer than 200 characters')),
  /** The customer's own PagerDuty Events routing key; absent: the deployment's PAGER_DUTY_EVENTS_API_KEY. A credential. */
  routingKey: v.optional(RoutingKeySchema),
  /** Absent: the deployment's PAGER_DUTY_SEVERITY. */
  severity: v.optional(v.picklist(SEVERITIES, `severity is one of ${SEVERITIES.join(', ')}`)),
  /** Named in the customer's failure messages; absent: the deployment's SUPPORT_CONTACT. */
  contact: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, 'the contact is empty'), v.maxLength(500, 'the contact is longer than 500 characters'))),
  /** Absent: the deployment's SHOW_RESPONDER_NAMES. */
  showResponderNames: v.optional(v.boolean()),
  pagesPerHour: v.optional(
    v.pipe(v.number(), v.integer('pages per hour is a whole number'), v.minValue(1, 'pages per hour is at least 1'), v.maxValue(1000, 'pages per hour is at most 1000')),
    DEFAULT_PAGES_PER_HOUR,
  ),
  /** Paging needs a click on Page on-call first. */
  confirm: v.optional(v.boolean(), false),
  /** The response targets promised to the customer (`npm run report` says whether each escalation met them); absent: none. */
  ackWithinMinutes: v.optional(TargetMinutes),
  resolveWithinMinutes: v.optional(TargetMinutes),
  /** After resolution, one line in the escalation's thread with its own times; absent: off. */
  receipt: v.optional(v.boolean()),
};

/** The one definition of a stored customer. */
export const CustomerSchema = v.object({
  channel: ChannelIdSchema,
  ...SettingsEntries,
  /** The organizations the channel is shared with, as pd-router last learned (at registration, then from channel_shared/unshared). */
  sharedWith: v.optional(v.array(TeamIdSchema), []),
  /** The organizations approved to see the channel: those at registration, then what `approve` recorded. */
  approvedOrgs: v.optional(v.array(TeamIdSchema), []),
  /**
   * This registration of the channel, new at every `add`: each escalation carries the one it was
   * raised under, and the delivery gate (lib/escalation/delivery-gate.ts) refuses an escalation of
   * an earlier registration, so a customer removed and added again starts clean. Absent on
   * customers registered before it existed (they own every escalation of their channel).
   */
  registrationId: v.optional(v.pipe(v.string(), v.maxLength(64))),
  /**
   * The channel's name in Slack (without "#"), as pd-router last learned it: at registration, then
   * by the slack-worker after an escalation. An escalation names the channel to on-call from here,
   * so nothing is asked of Slack before PagerDuty is; unknown, the channel id stands in.
   */
  channelName: v.optional(v.pipe(v.string(), v.maxLength(SLACK_CHANNEL_NAME_MAX_LENGTH))),
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
  updatedAt: v.pipe(v.string(), v.isoTimestamp()),
});

export type Customer = v.InferOutput<typeof CustomerSchema>;

/**
 * A customer as the functions read it: everything but its routing key, which only the function
 * that pages reads ({@link CustomerRecords.routingKey}); `routingKeyMask` says whether it has one.
 */
export type CustomerRecord = Omit<Customer, 'routingKey'> & { routingKeyMask?: string };

/** The channel is not a customer (get-or-fail, update, remove, approve). */
export class UnknownCustomerError extends InvalidInputError {
  override name = 'UnknownCustomerError';
  constructor(channel: string) {
    super(`channel ${channel} is not a customer`, 404);
  }
}

/** One line naming the first problem of a failed validation, never the offending value (it may be a key). */
function firstIssue(issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0]!;
  const path = issue.path?.map((item) => String(item.key)).join('.');
  // valibot's own type messages quote the value received, which may be a key: say what was expected instead.
  const message = issue.kind === 'schema' ? `expected ${issue.expected ?? 'another type'}` : issue.message;
  return path ? `${path}: ${message}` : message;
}

export function parseOrThrow<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) throw new InvalidInputError(firstIssue(result.issues));
  return result.output;
}

/**
 * Check a channel id a person typed. A DM is refused by name: it can never be a customer channel.
 * @throws InvalidInputError with one line saying what is wrong
 */
export function checkChannelId(channel: string): string {
  if (/^D[A-Z0-9]{4,20}$/.test(channel)) throw new InvalidInputError(`${channel} is a direct message, which cannot be a customer channel`);
  if (!CHANNEL_ID.test(channel)) throw new InvalidInputError(`malformed channel id "${channel.slice(0, 40)}": Slack channel ids look like C0123ABCD45`);
  return channel;
}

/** A routing key as any person may see it: enough to tell two apart, never enough to use. */
export function maskRoutingKey(key: string): string {
  return `${key.slice(0, 2)}…${key.slice(-2)}`;
}

/** Organizations the channel is shared with that nobody approved: the shared-channel guard pauses while any remain. */
export function unapprovedOrgs(customer: Pick<Customer, 'sharedWith' | 'approvedOrgs'>): string[] {
  return customer.sharedWith.filter((org) => !customer.approvedOrgs.includes(org));
}

/** The registry as the functions use it: reads, and the two writes a function makes. */
export interface CustomerRecords {
  /** The customer item alone: what every function may read (its routing key is not in it). */
  get(channel: string): Promise<CustomerRecord | undefined>;
  /**
   * The customer's own routing key, undefined when it pages with the deployment's. Only the
   * slack-worker's role may read the item it is kept in.
   */
  routingKey(channel: string): Promise<string | undefined>;
  /**
   * Record the organizations the channel is shared with now (from channel_shared / channel_unshared):
   * the one write of a customer item a function makes, and its role allows no other attribute.
   */
  recordSharedWith(channel: string, orgs: readonly string[]): Promise<CustomerRecord>;
  /** Record the channel's name as Slack gives it (the other write of a customer item a function makes). */
  recordChannelName(channel: string, name: string): Promise<CustomerRecord>;
}

/**
 * The registry as one message reads it: each channel's item read once, and the channels the
 * message learns it will ask about (`start`) read ahead, beside its other reads. Made per
 * message, so no answer is kept longer than one message takes: a channel removed or paused
 * is seen by the next.
 */
export function readAhead(records: Pick<CustomerRecords, 'get'>): Pick<CustomerRecords, 'get'> & { start(channels: readonly string[]): void } {
  const reads = new Map<string, Promise<CustomerRecord | undefined>>();
  const get = (channel: string) => {
    const read = reads.get(channel) ?? records.get(channel);
    reads.set(channel, read);
    return read;
  };
  return {
    get,
    start(channels) {
      // A failed read fails whoever asks for it; one nobody asks for must not go unhandled.
      for (const channel of channels) get(channel).catch(() => undefined);
    },
  };
}

export const INDEX = LAYOUT.table.customerIndex;
/** The one value of the index's partition key: every customer item carries it, nothing else does. */
export const LISTED = 'customer';
/** Partition key prefixes: IAM conditions name them (deploy/cloudformation.js). */
export const CUSTOMER_PREFIX = 'customer#';
export const ROUTING_KEY_PREFIX = 'routing#';
export const customerKey = (channel: string) => ({ pk: `${CUSTOMER_PREFIX}${channel}` });
export const routingKeyItem = (channel: string) => ({ pk: `${ROUTING_KEY_PREFIX}${channel}` });

const RecordSchema = v.object({ ...v.omit(CustomerSchema, ['routingKey']).entries, routingKeyMask: v.optional(v.pipe(v.string(), v.maxLength(16))) });

export function toRecord(item: Record<string, unknown> | undefined): CustomerRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, [INDEX.partitionKey]: _listed, routingKey: legacyKey, ...rest } = item;
  // Registered before routing keys had their own item: the key is still inline (and moves out at the next update).
  if (typeof legacyKey === 'string' && rest.routingKeyMask === undefined) rest.routingKeyMask = maskRoutingKey(legacyKey);
  const result = v.safeParse(RecordSchema, rest);
  // A stored item that no longer fits is a data problem to fix, not something a retry solves.
  if (!result.success) throw new PermanentError('corrupt_customer', `stored customer ${String(rest.channel)} is invalid: ${firstIssue(result.issues)}`);
  return result.output;
}

/** The steps both halves of the registry are made of: an item read, the routing key read, a conditional update. */
export interface CustomerItems extends Pick<CustomerRecords, 'get' | 'routingKey'> {
  getItem(pk: { pk: string }): Promise<Record<string, unknown> | undefined>;
  /** One conditional update of an existing customer item; a missing one is {@link UnknownCustomerError}. */
  update(channel: string, sets: Record<string, unknown>, removes?: readonly string[]): Promise<CustomerRecord>;
}

export function makeCustomerItems(db: DynamoDBDocumentClient, tableName: string, options: { now?: () => Date } = {}): CustomerItems {
  const now = options.now ?? (() => new Date());

  const getItem = (pk: { pk: string }) => readItem(db, tableName, pk);
  const get = async (channel: string) => toRecord(await getItem(customerKey(channel)));

  const routingKey = async (channel: string): Promise<string | undefined> => {
    const stored = (await getItem(routingKeyItem(channel)))?.routingKey;
    if (typeof stored === 'string') return stored;
    const customer = await getItem(customerKey(channel));
    if (typeof customer?.routingKey === 'string') return customer.routingKey;
    // The mask says there is a key: its item is being written (add, update) or was lost. Paging
    // with the deployment's key instead would page another service; a retry finds it.
    if (customer?.routingKeyMask !== undefined) throw new TransientError(`the routing key of ${channel} is not stored (yet)`);
    return undefined;
  };

  const update = async (channel: string, sets: Record<string, unknown>, removes: readonly string[] = []) => {
    const values: Record<string, unknown> = { ':updatedAt': now().toISOString() };
    const assignments = ['#updatedAt = :updatedAt'];
    for (const [attribute, value] of Object.entries(sets)) {
      assignments.push(`#${attribute} = :${attribute}`);
      values[`:${attribute}`] = value;
    }
    const expression = `SET ${assignments.join(', ')}${removes.length ? ` REMOVE ${removes.map((a) => `#${a}`).join(', ')}` : ''}`;
    try {
      const result = await storeCall('update', () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: customerKey(channel),
            UpdateExpression: expression,
            ExpressionAttributeValues: values,
            ...attributeNames(expression),
            ConditionExpression: 'attribute_exists(pk)',
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return toRecord(result.Attributes)!;
    } catch (error) {
      if (isConditionFailure(error)) throw new UnknownCustomerError(channel);
      throw error;
    }
  };

  return { getItem, get, routingKey, update };
}

/**
 * The registry on the DynamoDB table, as the functions use it. A customer item whose mask says it
 * has a routing key never pages with the deployment's while the key's item is missing (see routingKey).
 * @param options.now the clock (tests pass their own)
 */
export function makeCustomerRecords(db: DynamoDBDocumentClient, tableName: string, options: { now?: () => Date } = {}): CustomerRecords {
  return customerRecordsOf(makeCustomerItems(db, tableName, options));
}

/** The functions' half of the registry over its items (the provider's tools' registry includes it). */
export function customerRecordsOf(items: CustomerItems): CustomerRecords {
  return {
    get: items.get,
    routingKey: items.routingKey,
    async recordSharedWith(channel, orgs) {
      return items.update(channel, { sharedWith: [...new Set(parseOrThrow(v.array(TeamIdSchema), orgs))] });
    },
    async recordChannelName(channel, name) {
      return items.update(channel, { channelName: parseOrThrow(CustomerSchema.entries.channelName, name) });
    },
  };
}
