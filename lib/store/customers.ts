import { randomBytes } from 'node:crypto';
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { InvalidInputError, TransientError } from '../errors';
import { isConditionFailure, queryIndexPage, storeCall } from './dynamo';
import {
  ChannelIdSchema,
  checkChannelId,
  customerKey,
  customerRecordsOf,
  INDEX,
  LISTED,
  makeCustomerItems,
  maskRoutingKey,
  parseOrThrow,
  RoutingKeySchema,
  routingKeyItem,
  SettingsEntries,
  SEVERITIES,
  TargetMinutes,
  TeamIdSchema,
  toRecord,
  UnknownCustomerError,
  type Customer,
  type CustomerRecord,
  type CustomerRecords,
} from './customer-records';

/**
 * The customer registry as the provider's tools manage it (the `customers` command, the local
 * stack, the doctor): add, update, remove, list and approve, over the functions' half
 * (./customer-records.ts, which says how a customer is stored). The functions import that half
 * alone, so their bundles leave this one out.
 */

export {
  checkChannelId,
  CUSTOMER_PREFIX,
  CustomerSchema,
  DEFAULT_PAGES_PER_HOUR,
  isWellFormedRoutingKey,
  LISTED,
  maskRoutingKey,
  ROUTING_KEY_PREFIX,
  SEVERITIES,
  unapprovedOrgs,
  UnknownCustomerError,
  type Customer,
  type CustomerRecord,
  type CustomerRecords,
  type CustomerSeverity,
} from './customer-records';

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

/** The registry of customer channels, as the provider's tools manage it. */
export interface Customers extends CustomerRecords {
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
}

/** The customer item to store for a customer: everything but the routing key, whose mask it carries. */
function customerItem(customer: Customer): Record<string, unknown> {
  const { routingKey, ...rest } = customer;
  return { ...customerKey(customer.channel), [INDEX.partitionKey]: LISTED, ...rest, ...(routingKey ? { routingKeyMask: maskRoutingKey(routingKey) } : {}) };
}

/** True when a value is a masked key (as `list` and `export` show it) rather than a key. */
export function isMaskedRoutingKey(value: string): boolean {
  return value.includes('…');
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
  const items = makeCustomerItems(db, tableName, options);
  const { get, routingKey, update } = items;

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
    ...customerRecordsOf(items),
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
          db.send(new DeleteCommand({ TableName: tableName, Key: customerKey(channel), ConditionExpression: 'attribute_exists(pk)', ReturnValues: 'ALL_OLD' })),
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
