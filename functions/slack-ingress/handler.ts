import { createSlackIngressHandler } from './wiring';

export const handler = createSlackIngressHandler(process.env);
