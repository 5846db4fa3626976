import { randomBytes } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { LAYOUT } from '../layout/layout';
import { InvalidInputError, PermanentError, TransientError } from '../errors';
import { attributeNames, isConditionFailure, queryIndexPage, storeCall } from './dynamo';
import { SEVERITIES } from '../runtime/settings';

/**
 * The customer registry: one item per customer channel (the channel id is the tenant key), in
 * the one table, under its own `customer#` prefix and in the sparse customer index so that a
 * list reads customers only. A customer's own routing key is a credential: it lives in an item of
 * its own (`routing#<channel>`), so IAM can let only the function that pages read it
 * (`dynamodb:LeadingKeys`, deploy/cloudformation.js); the customer item carries its mask.
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

const ChannelIdSchema = v.pipe(v.string(), v.regex(CHANNEL_ID, 'a channel id is C or G and 4–20 uppercase letters or digits'));
const TeamIdSchema = v.pipe(v.string(), v.regex(TEAM_ID, 'an organization id is T or E and uppercase letters or digits'));
/** True when `key` has the shape of a PagerDuty Events API v2 routing key (the doctor checks stored ones). */
export function isWellFormedRoutingKey(key: unknown): boolean {
  return typeof key === 'string' && ROUTING_KEY.test(key);
}

const RoutingKeySchema = v.pipe(v.string(), v.regex(ROUTING_KEY, 'a routing key is 20–64 letters, digits, - or _'));

/** A response target in whole minutes: up to 30 days. */
const TargetMinutes = v.pipe(v.number(), v.integer('a target is a whole number of minutes'), v.minValue(1, 'a target is at least one minute'), v.maxValue(43200, 'a target is at most 30 days'));

/** What a provider may set on a customer (add and update take these). */
const SettingsEntries = {
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
 * that pages reads ({@link Customers.routingKey}); `routingKeyMask` says whether it has one.
 */
export type CustomerRecord = Omit<Customer, 'routingKey'> & { routingKeyMask?: string };

const NewCustomerSchema = v.object({
  channel: ChannelIdSchema,
  ...SettingsEntries,
  /** The organizations the channel is shared with at registration; they are approved. */
  orgs: v.optional(v.array(TeamIdSchema), []),
});
/** What `add` takes: the channel, its name, and any settings (the rest take their defaults). */
export type NewCustomer = v.InferInput<typeof NewCustomerSchema>;

/**
 * Check a new customer without storing it (an import checks every entry before it writes any).
 * @throws InvalidInputError naming the first problem
 */
export function parseNewCustomer(input: unknown): v.InferOutput<typeof NewCustomerSchema> {
  const channel = (input as { channel?: unknown } | undefined)?.channel;
  if (typeof channel === 'string') checkChannelId(channel);
  return parseOrThrow(NewCustomerSchema, input);
}

/** Settings that may be cleared back to the deployment's default with `null`. */
type Clearable = 'routingKey' | 'severity' | 'contact' | 'showResponderNames' | 'ackWithinMinutes' | 'resolveWithinMinutes';

const ChangesSchema = v.object({
  name: v.optional(SettingsEntries.name),
  routingKey: v.optional(v.nullable(RoutingKeySchema)),
  severity: v.optional(v.nullable(v.picklist(SEVERITIES, `severity is one of ${SEVERITIES.join(', ')}`))),
  contact: v.optional(v.nullable(v.unwrap(SettingsEntries.contact))),
  showResponderNames: v.optional(v.nullable(v.boolean())),
  pagesPerHour: v.optional(v.unwrap(SettingsEntries.pagesPerHour)),
  confirm: v.optional(v.boolean()),
  ackWithinMinutes: v.optional(v.nullable(TargetMinutes)),
  resolveWithinMinutes: v.optional(v.nullable(TargetMinutes)),
  receipt: v.optional(v.boolean()),
});
/** What `update` takes: only the settings to change; `null` puts a setting back to the deployment's default. */
export type CustomerChanges = v.InferInput<typeof ChangesSchema>;

/** The channel is registered already (add). */
export class CustomerExistsError extends InvalidInputError {
  override name = 'CustomerExistsError';
  constructor(channel: string) {
    super(`channel ${channel} is already a customer`, 409);
  }
}

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

function parseOrThrow<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
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

/** True when a value is a masked key (as `list` and `export` show it) rather than a key. */
export function isMaskedRoutingKey(value: string): boolean {
  return value.includes('…');
}

/**
 * A customer as commands and the console show it: the routing key masked. (Not what a customer
 * sees: that is lib/tenancy/customer-view.ts.)
 */
export type MaskedCustomer = Omit<Customer, 'routingKey'> & { routingKey?: string };

/** The customer with its routing key masked: the only shape that leaves the store towards a person. */
export function maskedCustomer(customer: Customer): MaskedCustomer {
  const { routingKey, ...rest } = customer;
  return routingKey === undefined ? rest : { ...rest, routingKey: maskRoutingKey(routingKey) };
}

/** Organizations the channel is shared with that nobody approved: the shared-channel guard pauses while any remain. */
export function unapprovedOrgs(customer: Pick<Customer, 'sharedWith' | 'approvedOrgs'>): string[] {
  return customer.sharedWith.filter((org) => !customer.approvedOrgs.includes(org));
}

/** The registry of customer channels. */
export interface Customers {
  /** The customer item alone: what every function may read (its routing key is not in it). */
  get(channel: string): Promise<CustomerRecord | undefined>;
  /**
   * The customer's own routing key, undefined when it pages with the deployment's. Only the
   * slack-worker's role may read the item it is kept in.
   */
  routingKey(channel: string): Promise<string | undefined>;
  /** The customer with its routing key, as the provider's tools show and export it. */
  full(channel: string): Promise<Customer | undefined>;
  /** Register a channel; fails with {@link CustomerExistsError} if it is registered. */
  add(input: NewCustomer): Promise<Customer>;
  /** Change settings of a registered channel; fails with {@link UnknownCustomerError} if it is not. */
  update(channel: string, changes: CustomerChanges): Promise<Customer>;
  /**
   * Unregister a channel; returns what was stored; fails with {@link UnknownCustomerError} if it is
   * not registered. From then on the delivery gate refuses everything for the channel (nothing is
   * posted, refreshed, caught up or noted, paused or not); a later `add` is a new registration,
   * under which the escalations raised before stay refused.
   */
  remove(channel: string): Promise<Customer>;
  /** One page of customers by channel id; pass `cursor` back for the next page. */
  list(options?: { limit?: number; cursor?: string }): Promise<{ customers: Customer[]; cursor?: string }>;
  /** Every customer, page after page. */
  all(): Promise<Customer[]>;
  /** Approve these organizations (the shared-channel guard resumes when all it sees are approved). */
  approve(channel: string, orgs: readonly string[]): Promise<Customer>;
  /**
   * Record the organizations the channel is shared with now (from channel_shared / channel_unshared):
   * the one write of a customer item a function makes, and its role allows no other attribute.
   */
  recordSharedWith(channel: string, orgs: readonly string[]): Promise<CustomerRecord>;
  /** Record the channel's name as Slack gives it (the other write of a customer item a function makes). */
  recordChannelName(channel: string, name: string): Promise<CustomerRecord>;
}

const INDEX = LAYOUT.table.customerIndex;
/** The one value of the index's partition key: every customer item carries it, nothing else does. */
export const LISTED = 'customer';
/** Partition key prefixes: IAM conditions name them (deploy/cloudformation.js). */
export const CUSTOMER_PREFIX = 'customer#';
export const ROUTING_KEY_PREFIX = 'routing#';
const key = (channel: string) => ({ pk: `${CUSTOMER_PREFIX}${channel}` });
const routingKeyItem = (channel: string) => ({ pk: `${ROUTING_KEY_PREFIX}${channel}` });

const RecordSchema = v.object({ ...v.omit(CustomerSchema, ['routingKey']).entries, routingKeyMask: v.optional(v.pipe(v.string(), v.maxLength(16))) });

function toRecord(item: Record<string, unknown> | undefined): CustomerRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, [INDEX.partitionKey]: _listed, routingKey: legacyKey, ...rest } = item;
  // Registered before routing keys had their own item: the key is still inline (and moves out at the next update).
  if (typeof legacyKey === 'string' && rest.routingKeyMask === undefined) rest.routingKeyMask = maskRoutingKey(legacyKey);
  const result = v.safeParse(RecordSchema, rest);
  // A stored item that no longer fits is a data problem to fix, not something a retry solves.
  if (!result.success) throw new PermanentError('corrupt_customer', `stored customer ${String(rest.channel)} is invalid: ${firstIssue(result.issues)}`);
  return result.output;
}

/** The customer item to store for a customer: everything but the routing key, whose mask it carries. */
function customerItem(customer: Customer): Record<string, unknown> {
  const { routingKey, ...rest } = customer;
  return { ...key(customer.channel), [INDEX.partitionKey]: LISTED, ...rest, ...(routingKey ? { routingKeyMask: maskRoutingKey(routingKey) } : {}) };
}

function encodeCursor(lastKey: Record<string, unknown> | undefined): string | undefined {
  return lastKey ? Buffer.from(JSON.stringify(lastKey)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof parsed.pk === 'string' && parsed.pk.startsWith('customer#') && parsed[INDEX.partitionKey] === LISTED) return { pk: parsed.pk, [INDEX.partitionKey]: LISTED };
  } catch {
    // fall through to the one error below
  }
  throw new InvalidInputError('the list cursor is not one this registry gave out');
}

/**
 * The registry on the DynamoDB table. Every write is one conditional single-item write; a customer
 * with its own routing key is two items, and a customer item whose mask says it has a key never
 * pages with the deployment's while the key's item is missing (see routingKey).
 * @param options.now the clock (tests pass their own)
 */
export function makeCustomers(db: DynamoDBDocumentClient, tableName: string, options: { now?: () => Date } = {}): Customers {
  const now = options.now ?? (() => new Date());

  const getItem = async (pk: { pk: string }) => (await storeCall('get', () => db.send(new GetCommand({ TableName: tableName, Key: pk, ConsistentRead: true })))).Item;
  const get = async (channel: string) => toRecord(await getItem(key(channel)));

  const routingKey = async (channel: string): Promise<string | undefined> => {
    const stored = (await getItem(routingKeyItem(channel)))?.routingKey;
    if (typeof stored === 'string') return stored;
    const customer = await getItem(key(channel));
    if (typeof customer?.routingKey === 'string') return customer.routingKey;
    // The mask says there is a key: its item is being written (add, update) or was lost. Paging
    // with the deployment's key instead would page another service; a retry finds it.
    if (customer?.routingKeyMask !== undefined) throw new TransientError(`the routing key of ${channel} is not stored (yet)`);
    return undefined;
  };

  /**
   * A record and its routing key, together: the customer as the provider's tools see it. A key
   * whose item is missing shows as its mask, which an import refuses as "masked and none is stored".
   */
  const withKey = async (record: CustomerRecord): Promise<Customer> => {
    const { routingKeyMask, ...rest } = record;
    if (routingKeyMask === undefined) return rest;
    const own = await routingKey(record.channel).catch((error: unknown) => {
      if (error instanceof TransientError) return routingKeyMask;
      throw error;
    });
    return { ...rest, routingKey: own ?? routingKeyMask };
  };

  const putRoutingKey = (channel: string, value: string) => storeCall('put', () => db.send(new PutCommand({ TableName: tableName, Item: { ...routingKeyItem(channel), routingKey: value } })));
  const deleteRoutingKey = (channel: string) => storeCall('delete', () => db.send(new DeleteCommand({ TableName: tableName, Key: routingKeyItem(channel) })));

  /** One conditional update of an existing customer item; a missing one is {@link UnknownCustomerError}. */
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
            Key: key(channel),
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

  const list: Customers['list'] = async ({ limit = 100, cursor } = {}) => {
    const page = await queryIndexPage(db, tableName, INDEX, LISTED, { limit, ...(cursor ? { cursor: decodeCursor(cursor) } : {}) });
    const next = encodeCursor(page.lastKey);
    return { customers: await Promise.all(page.items.map((item) => withKey(toRecord(item)!))), ...(next ? { cursor: next } : {}) };
  };

  const full = async (channel: string) => {
    const record = await get(channel);
    return record && withKey(record);
  };

  return {
    get,
    routingKey,
    full,
    list,
    async all() {
      const customers: Customer[] = [];
      let cursor: string | undefined;
      do {
        const page = await list({ limit: 1000, ...(cursor ? { cursor } : {}) });
        customers.push(...page.customers);
        cursor = page.cursor;
      } while (cursor);
      return customers;
    },
    async add(input) {
      const { orgs, ...settings } = parseNewCustomer(input);
      const at = now().toISOString();
      const customer: Customer = { ...settings, sharedWith: orgs, approvedOrgs: orgs, registrationId: randomBytes(12).toString('base64url'), createdAt: at, updatedAt: at };
      try {
        await storeCall('put', () => db.send(new PutCommand({ TableName: tableName, Item: customerItem(customer), ConditionExpression: 'attribute_not_exists(pk)' })));
      } catch (error) {
        if (isConditionFailure(error)) throw new CustomerExistsError(customer.channel);
        throw error;
      }
      // Only the add that registered the channel writes its key (concurrent adds race above, not
      // here). Until it is stored an escalation waits for it (routingKey), never pages with another.
      if (customer.routingKey) await putRoutingKey(customer.channel, customer.routingKey);
      else await deleteRoutingKey(customer.channel);
      return customer;
    },
    async update(channel, changes) {
      const parsed = parseOrThrow(ChangesSchema, changes);
      const sets: Record<string, unknown> = {};
      const removes: string[] = [];
      const { routingKey: newKey, ...rest } = parsed;
      for (const [attribute, value] of Object.entries(rest)) {
        if (value === undefined) continue;
        if (value === null) removes.push(attribute as Clearable);
        else sets[attribute] = value;
      }
      if (typeof newKey === 'string') {
        if ((await get(channel)) === undefined) throw new UnknownCustomerError(channel);
        await putRoutingKey(channel, newKey);
        sets.routingKeyMask = maskRoutingKey(newKey);
        removes.push('routingKey');
      } else if (newKey === null) removes.push('routingKeyMask', 'routingKey');
      const record = await update(channel, sets, removes);
      if (newKey === null) await deleteRoutingKey(channel);
      return withKey(record);
    },
    async remove(channel) {
      const stored = await full(channel);
      try {
        const result = await storeCall('delete', () =>
          db.send(new DeleteCommand({ TableName: tableName, Key: key(channel), ConditionExpression: 'attribute_exists(pk)', ReturnValues: 'ALL_OLD' })),
        );
        const removed = toRecord(result.Attributes)!;
        await deleteRoutingKey(channel);
        const { routingKeyMask: _mask, ...rest } = removed;
        return stored?.routingKey ? { ...rest, routingKey: stored.routingKey } : rest;
      } catch (error) {
        if (isConditionFailure(error)) throw new UnknownCustomerError(channel);
        throw error;
      }
    },
    async approve(channel, orgs) {
      return withKey(await update(channel, { approvedOrgs: [...new Set(parseOrThrow(v.array(TeamIdSchema), orgs))] }));
    },
    async recordSharedWith(channel, orgs) {
      return update(channel, { sharedWith: [...new Set(parseOrThrow(v.array(TeamIdSchema), orgs))] });
    },
    async recordChannelName(channel, name) {
      return update(channel, { channelName: parseOrThrow(CustomerSchema.entries.channelName, name) });
    },
  };
}

/**
 * The registry as the provider's tools use it (the `customers` command, the local stack's admin
 * route): customers come out masked, and `approve` approves the organizations the channel is
 * shared with now.
 */
export interface CustomerAdmin {
  get(channel: string): Promise<MaskedCustomer | undefined>;
  add(input: NewCustomer): Promise<MaskedCustomer>;
  update(channel: string, changes: CustomerChanges): Promise<MaskedCustomer>;
  remove(channel: string): Promise<MaskedCustomer>;
  all(): Promise<MaskedCustomer[]>;
  approve(channel: string): Promise<MaskedCustomer>;
}

/** {@link CustomerAdmin} over the registry itself (a deployed table, or the local stack's). */
export function makeCustomerAdmin(customers: Customers, slack: { channelName?: (channel: string) => Promise<string | undefined> } = {}): CustomerAdmin {
  /**
   * A channel's name, learned at registration where Slack can be asked (the bot token at hand), so
   * that its first escalation names it to on-call without asking Slack first. Never fails the add:
   * unknown, the slack-worker learns it after the channel's first escalation.
   */
  const withChannelName = async (customer: Customer): Promise<Customer> => {
    const name = await slack.channelName?.(customer.channel).catch(() => undefined);
    if (!name || name === customer.channelName) return customer;
    const { channelName } = await customers.recordChannelName(customer.channel, name);
    return { ...customer, ...(channelName ? { channelName } : {}) };
  };
  const known = async (channel: string) => {
    const customer = await customers.get(checkChannelId(channel));
    if (!customer) throw new UnknownCustomerError(channel);
    return customer;
  };
  return {
    async get(channel) {
      const customer = await customers.full(checkChannelId(channel));
      return customer && maskedCustomer(customer);
    },
    add: async (input) => maskedCustomer(await withChannelName(await customers.add(input))),
    update: async (channel, changes) => maskedCustomer(await customers.update(checkChannelId(channel), changes)),
    remove: async (channel) => maskedCustomer(await customers.remove(checkChannelId(channel))),
    all: async () => (await customers.all()).map(maskedCustomer),
    approve: async (channel) => maskedCustomer(await customers.approve(channel, (await known(channel)).sharedWith)),
  };
}
