/**
 * Stands in for `@smithy/core/event-streams` in the Lambda bundles (an esbuild alias in
 * serverless.yml). The SDK's HTTP protocol imports it only for operations that stream events;
 * none of the SQS, DynamoDB and Secrets Manager calls pd-router makes does, and bundled it is
 * ~11 KB of every function. Should a future call need it, it fails loudly here.
 */
function unavailable(): never {
  throw new Error('AWS event streams are not bundled (lib/shims/no-event-streams.ts): remove the alias in serverless.yml to use them');
}

export class EventStreamSerde {
  constructor() {
    unavailable();
  }
}

export const eventStreamSerdeProvider = unavailable;
