import { createReconcilerHandler } from './wiring';

export const handler = createReconcilerHandler(process.env).handler;
