import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IncidentStatus } from '../events';
import { attributeNames, expiryEpoch, isConditionFailure, storeCall } from './dynamo';
import { TransientError } from '../runtime/errors';
import { LAYOUT } from '../layout/layout';

const TTL = LAYOUT.table.ttlAttribute;

/** Where an escalation stands. Each step moves forward only, with a conditional write. */
export type LinkState = 'pending' | 'triggered' | 'rejected';

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
  incidentId?: string;
  incidentNumber?: number;
  incidentUrl?: string;
  incidentTitle?: string;
  /** The newest status we know and the time PagerDuty says it happened. */
  status?: IncidentStatus;
  statusAt?: string;
  confirmationTs?: string;
}

export type NewIncidentLink = Pick<IncidentLink, 'dedupKey' | 'team' | 'channel' | 'threadTs' | 'requester' | 'summary'>;

/** The store of links, keyed by dedup_key, with a pointer from each PagerDuty incident id. */
export interface IncidentLinks {
  /** Create the link, or return the one an earlier attempt created. */
  create(link: NewIncidentLink): Promise<{ link: IncidentLink; created: boolean }>;
  get(dedupKey: string): Promise<IncidentLink | undefined>;
  findByIncidentId(incidentId: string): Promise<IncidentLink | undefined>;
  /** pending → triggered or rejected; returns the link as stored afterwards. */
  settle(dedupKey: string, state: Exclude<LinkState, 'pending'>, reason?: string): Promise<IncidentLink>;
  setThread(dedupKey: string, threadTs: string): Promise<IncidentLink>;
  setConfirmation(dedupKey: string, ts: string): Promise<IncidentLink>;
  /** Remember the incident behind a link, and point its id at the link; returns the link as stored. */
  attachIncident(
    dedupKey: string,
    incident: { id: string; number?: number; url?: string; title?: string },
  ): Promise<IncidentLink>;
  /**
   * Record a status if it is newer than the one stored (by PagerDuty's occurred_at); an older
   * event never moves the status back. Returns the link as stored and whether it moved.
   */
  advanceStatus(dedupKey: string, status: IncidentStatus, occurredAt: string): Promise<{ link: IncidentLink; advanced: boolean }>;
}



function toLink(item: Record<string, unknown> | undefined): IncidentLink | undefined {
  if (!item) return undefined;
  const { pk: _pk, [TTL]: _ttl, ...rest } = item;
  return rest as unknown as IncidentLink;
}


export function makeIncidentLinks(db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number; now?: () => Date }): IncidentLinks {
  const now = options.now ?? (() => new Date());
  const linkKey = (dedupKey: string) => ({ pk: `link#${dedupKey}` });
  const incidentKey = (incidentId: string) => ({ pk: `incident#${incidentId}` });
  const expiresAt = () => expiryEpoch(now(), options.ttlDays);

  const get = async (dedupKey: string) =>
    toLink((await storeCall('get', () => db.send(new GetCommand({ TableName: tableName, Key: linkKey(dedupKey), ConsistentRead: true })))).Item);

  const update = async (dedupKey: string, expression: string, values: Record<string, unknown>, condition?: string) => {
    const result = await storeCall('update', () =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: linkKey(dedupKey),
          UpdateExpression: expression,
          ExpressionAttributeValues: values,
          ...attributeNames(`${expression} ${condition ?? ''}`),
          ConditionExpression: condition ? `attribute_exists(pk) AND (${condition})` : 'attribute_exists(pk)',
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return toLink(result.Attributes)!;
  };

  return {
    get,
    async create(input) {
      const link: IncidentLink = { ...input, createdAt: now().toISOString(), state: 'pending' };
      try {
        await storeCall('put', () =>
          db.send(
            new PutCommand({
              TableName: tableName,
              Item: { ...linkKey(input.dedupKey), ...link, [TTL]: expiresAt() },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        );
        return { link, created: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const existing = await get(input.dedupKey);
        if (!existing) throw new TransientError('link vanished between put and get');
        return { link: existing, created: false };
      }
    },
    async findByIncidentId(incidentId) {
      const pointer = (
        await storeCall('get', () => db.send(new GetCommand({ TableName: tableName, Key: incidentKey(incidentId), ConsistentRead: true })))
      ).Item;
      return typeof pointer?.dedupKey === 'string' ? get(pointer.dedupKey) : undefined;
    },
    async settle(dedupKey, state, reason) {
      try {
        return await update(
          dedupKey,
          reason === undefined ? 'SET #state = :state' : 'SET #state = :state, rejectedReason = :reason',
          { ':state': state, ':pending': 'pending', ...(reason === undefined ? {} : { ':reason': reason }) },
          '#state = :pending',
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return (await get(dedupKey))!;
      }
    },
    async setThread(dedupKey, threadTs) {
      try {
        return await update(dedupKey, 'SET threadTs = :ts', { ':ts': threadTs }, 'attribute_not_exists(threadTs)');
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return (await get(dedupKey))!;
      }
    },
    async setConfirmation(dedupKey, ts) {
      return update(dedupKey, 'SET confirmationTs = :ts', { ':ts': ts });
    },
    async attachIncident(dedupKey, incident) {
      const values: Record<string, unknown> = { ':id': incident.id };
      const sets = ['incidentId = :id'];
      const optional = { incidentNumber: incident.number, incidentUrl: incident.url, incidentTitle: incident.title };
      for (const [attribute, value] of Object.entries(optional)) {
        if (value === undefined) continue;
        sets.push(`${attribute} = :${attribute}`);
        values[`:${attribute}`] = value;
      }
      const pointer = async () => {
        try {
          await storeCall('put', () =>
            db.send(
              new PutCommand({
                TableName: tableName,
                Item: { ...incidentKey(incident.id), dedupKey, [TTL]: expiresAt() },
                ConditionExpression: 'attribute_not_exists(pk)',
              }),
            ),
          );
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      };
      // Two independent items: written side by side, one round trip instead of two.
      const [link] = await Promise.all([update(dedupKey, `SET ${sets.join(', ')}`, values), pointer()]);
      return link;
    },
    async advanceStatus(dedupKey, status, occurredAt) {
      try {
        const link = await update(
          dedupKey,
          'SET #status = :status, statusAt = :at',
          { ':status': status, ':at': occurredAt },
          'attribute_not_exists(statusAt) OR statusAt < :at',
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
