import type { ChannelInfo } from './transcript';

/** The sandbox's customer channels (`npm start` and `npm run demo`): one console column each. */
export const SANDBOX_CHANNELS: ChannelInfo[] = [
  { id: 'CACME', name: 'customer-acme' },
  { id: 'CGLOBEX', name: 'customer-globex' },
  { id: 'CINITECH', name: 'customer-initech' },
];

export const SANDBOX_CHANNEL_NAMES: Record<string, string> = Object.fromEntries(SANDBOX_CHANNELS.map((c) => [c.id, c.name]));
