import { createPagerDutyWorkerHandler } from './wiring';

export const handler = createPagerDutyWorkerHandler(process.env).handler;
