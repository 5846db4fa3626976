import type { NewCustomer } from '../../lib/store/customers';
import type { ChannelInfo } from './transcript';

/** The sandbox's customer channels (`npm start` and `npm run demo`): one console column each. */
export const SANDBOX_CHANNELS: ChannelInfo[] = [
  { id: 'CACME', name: 'customer-acme' },
  { id: 'CGLOBEX', name: 'customer-globex' },
  { id: 'CINITECH', name: 'customer-initech' },
];

export const SANDBOX_CHANNEL_NAMES: Record<string, string> = Object.fromEntries(SANDBOX_CHANNELS.map((c) => [c.id, c.name]));

/**
 * The sandbox's customers, registered at start: paging without a confirmation, the default budget;
 * two with response targets, so `npm run report` after the demo shows targets met and missed.
 */
export const SANDBOX_CUSTOMERS: NewCustomer[] = [
  { channel: 'CACME', name: 'Acme Corp', ackWithinMinutes: 15, resolveWithinMinutes: 240 },
  { channel: 'CGLOBEX', name: 'Globex', ackWithinMinutes: 30 },
  { channel: 'CINITECH', name: 'Initech' },
];
