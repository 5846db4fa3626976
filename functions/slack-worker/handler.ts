import { createSlackWorkerHandler } from './wiring';

export const handler = createSlackWorkerHandler(process.env).handler;
