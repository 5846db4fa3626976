import { createPagerDutyIngressHandler } from './wiring';

export const handler = createPagerDutyIngressHandler(process.env);
