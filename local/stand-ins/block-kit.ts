import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Block Kit's documented limits for a message's `blocks`, as a JSON schema: what Slack refuses
 * with `invalid_blocks` (docs.slack.dev/reference/block-kit/blocks, …/block-elements/button-element,
 * …/composition-objects/text-object). Only limits are checked, not every field Slack knows.
 */

const textObject = (maxLength: number) => ({
  type: 'object',
  required: ['type', 'text'],
  properties: {
    type: { enum: ['plain_text', 'mrkdwn'] },
    text: { type: 'string', minLength: 1, maxLength },
  },
});

const plainText = (maxLength: number) => ({ ...textObject(maxLength), properties: { ...textObject(maxLength).properties, type: { const: 'plain_text' } } });

const identifier = { type: 'string', minLength: 1, maxLength: 255 };

const button = {
  required: ['text'],
  properties: {
    text: plainText(75),
    action_id: identifier,
    value: { type: 'string', maxLength: 2000 },
    url: { type: 'string', maxLength: 3000 },
    style: { enum: ['primary', 'danger'] },
    accessibility_label: { type: 'string', minLength: 1, maxLength: 75 },
  },
};

/** An interactive element (a button, a menu…): every one's action_id is ≤ 255; a button's own limits. */
const element = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, action_id: identifier },
  if: { properties: { type: { const: 'button' } } },
  then: button,
};

/** A context block's element: an image or a text object. */
const contextElement = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['image', 'plain_text', 'mrkdwn'] } },
  if: { properties: { type: { enum: ['plain_text', 'mrkdwn'] } } },
  then: textObject(3000),
};

const perBlockType: Record<string, object> = {
  section: {
    properties: { text: textObject(3000), fields: { type: 'array', minItems: 1, maxItems: 10, items: textObject(2000) }, accessory: element },
    anyOf: [{ required: ['text'] }, { required: ['fields'] }],
  },
  header: { required: ['text'], properties: { text: plainText(150) } },
  context: { required: ['elements'], properties: { elements: { type: 'array', minItems: 1, maxItems: 10, items: contextElement } } },
  actions: { required: ['elements'], properties: { elements: { type: 'array', minItems: 1, maxItems: 25, items: element } } },
};

/** The block types Slack documents for messages; another type is refused. */
const MESSAGE_BLOCK_TYPES = ['actions', 'context', 'divider', 'file', 'header', 'image', 'input', 'markdown', 'rich_text', 'section', 'table', 'video'];

export const MESSAGE_BLOCKS_SCHEMA = {
  $id: 'slack-message-blocks',
  type: 'array',
  maxItems: 50,
  items: {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: MESSAGE_BLOCK_TYPES }, block_id: identifier },
    allOf: Object.entries(perBlockType).map(([type, schema]) => ({ if: { properties: { type: { const: type } } }, then: schema })),
  },
} as const;

let validate: ValidateFunction | undefined;

/** Slack-like messages for what is wrong with `blocks` ("… [json-pointer:/blocks/0/text/text]"); empty when Slack would take them. */
export function blockKitErrors(blocks: unknown): string[] {
  validate ??= new Ajv({ allErrors: true, strict: false }).compile(MESSAGE_BLOCKS_SCHEMA);
  if (validate(blocks)) return [];
  // ajv adds a 'must match "then" schema' for each failed `if`: the errors under it say more.
  return (validate.errors ?? []).filter((error) => error.keyword !== 'if').map(describe);
}

function describe(error: ErrorObject): string {
  return `${error.message ?? 'is invalid'} [json-pointer:/blocks${error.instancePath}]`;
}
