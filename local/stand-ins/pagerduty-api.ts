import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { default as Ajv, ErrorObject, Format, ValidateFunction } from 'ajv';

/**
 * What PagerDuty's published API accepts, checked with PagerDuty's own OpenAPI descriptions
 * (`./specs/`, see SOURCES.md there): the operation (path and method), its query parameters, its
 * required headers and its request body. The PagerDuty stand-in refuses what does not match with
 * PagerDuty's 400, so that a request the real API would refuse fails a local test instead of a
 * deploy.
 *
 * The REST description is 2.7 MB. Nothing is loaded until the first request (not the validator,
 * not the files): the file is parsed once per process, and each operation's checks are compiled
 * once, when it is first called, from only the part of the description it refers to.
 */

// An OpenAPI document, read as the JSON it is: any shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** A request as the stand-in received it. */
export interface ApiRequest {
  method: string;
  /** The path under the API's base (`/incidents/Q1`; for the Events API, `/enqueue`). */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The body as sent (empty when none). */
  raw: string;
}

/** Why PagerDuty would refuse the request (an empty list: it would not). */
export type Refusals = string[];

interface Operation {
  method: string;
  template: string;
  segments: string[];
  definition: Json;
  pathParameters: Json[];
}

interface CompiledOperation {
  query: ValidateFunction;
  headers: ValidateFunction;
  /** The header names the description declares, by their lower-case form (Content-Type is checked only when a body is sent). */
  headerNames: Map<string, string>;
  body?: ValidateFunction;
  bodyRequired: boolean;
}

interface LoadedSpec {
  document: Json;
  operations: Operation[];
  compiled: Map<Operation, CompiledOperation>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/**
 * Limits PagerDuty documents in prose but leaves out of its OpenAPI description, added to the
 * schema the checks compile. Each says where PagerDuty says it.
 */
function patchEventsDescription(document: Json): void {
  const event = document.paths['/enqueue'].post.requestBody.content['application/json'].schema;
  // PagerDuty/developer-docs docs/events-API-v2/02-Trigger-Events.md (commit 1da9f6a2d18161a8a568bfdf64dd465523f879e5):
  // "dedup_key … The maximum permitted length of this property is 255 characters."
  event.properties.dedup_key.maxLength = 255;
  // Same page: "payload.summary … The maximum permitted length of this property is 1024 characters."
  document.components.schemas.Payload.properties.summary.maxLength = 1024;
  // Same page: payload.summary, source and severity are required (for a trigger); and the
  // description's own dedup_key: "Required unless the event_type is trigger."
  event.if = { properties: { event_action: { const: 'trigger' } } };
  event.then = { required: ['payload'] };
  event.else = { required: ['dedup_key'] };
}

/**
 * The v3 webhook event types PagerDuty documents: PagerDuty/developer-docs docs/webhooks/01-Overview.md,
 * "Event Types" (commit 067290f6851a3044d040c2cb57f1b8841fd8ff03). That page says more may be
 * added over time: a type missing here is added with its source, never guessed.
 */
export const PAGERDUTY_WEBHOOK_EVENT_TYPES = [
  'incident.acknowledged',
  'incident.annotated',
  'incident.delegated',
  'incident.escalated',
  'incident.priority_updated',
  'incident.reassigned',
  'incident.reopened',
  'incident.resolved',
  'incident.responder.added',
  'incident.responder.replied',
  'incident.status_update_published',
  'incident.triggered',
  'incident.unacknowledged',
  'service.created',
  'service.deleted',
  'service.updated',
] as const;

function patchRestDescription(document: Json): void {
  // The description says only `events: string[]`; the event types are listed in the webhooks docs.
  document.components.schemas.WebhookSubscription.properties.events.items.enum = [...PAGERDUTY_WEBHOOK_EVENT_TYPES];
}

function load(file: string, patch: (document: Json) => void): LoadedSpec {
  const document = JSON.parse(readFileSync(join(__dirname, 'specs', file), 'utf8')) as Json;
  patch(document);
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths as Json)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      operations.push({ method: method.toUpperCase(), template, segments: template.split('/').filter(Boolean), definition: item[method], pathParameters: item.parameters ?? [] });
    }
  }
  return { document, operations, compiled: new Map() };
}

let rest: LoadedSpec | undefined;
let events: LoadedSpec | undefined;
const restSpec = () => (rest ??= load('pagerduty-rest-openapiv3.json', patchRestDescription));
const eventsSpec = () => (events ??= load('pagerduty-events-v2-openapiv3.json', patchEventsDescription));

/** Bodies are JSON as sent: no coercion. */
let bodyAjv: Ajv | undefined;
/** Query strings and headers are text: `limit=100` is the integer the description asks for. */
let parameterAjv: Ajv | undefined;

/** Ajv and its formats, loaded with the first request: a stack that never calls PagerDuty pays nothing. */
let ajvModules: Promise<[typeof import('ajv'), typeof import('ajv-formats')]> | undefined;
const loadAjv = () => (ajvModules ??= Promise.all([import('ajv'), import('ajv-formats')]));

async function newAjv(coerce: boolean): Promise<Ajv> {
  const [{ default: Ajv }, { default: addFormats }] = await loadAjv();
  // OpenAPI 3.0 schemas carry keywords JSON Schema does not know (example, discriminator, x-…):
  // they are annotations, so unknown keywords are ignored rather than refused. `nullable` is
  // understood by Ajv itself.
  const ajv = new Ajv({ allErrors: true, strictSchema: false, strictTypes: false, strictTuples: false, strictRequired: false, validateSchema: false, ...(coerce ? { coerceTypes: 'array' as const } : {}) });
  addFormats(ajv);
  // PagerDuty's own format names: `url` is a URI; the others name what a string holds (a text
  // area, a time zone) without a rule to check.
  ajv.addFormat('url', ajv.formats.uri as Format);
  for (const name of ['TEXTAREA', 'tzinfo', 'activesupport-time-zone', 'partial-time', 'int64', 'float', 'double', 'binary']) ajv.addFormat(name, true);
  return ajv;
}

const pointerPath = (pointer: string) => pointer.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));

function resolve(document: Json, ref: string): Json {
  let node: unknown = document;
  for (const part of pointerPath(ref)) node = (node as Json | undefined)?.[part];
  if (node === undefined) throw new Error(`PagerDuty's description has no ${ref}`);
  return node as Json;
}

/**
 * A document holding `schema` (at `x-stand-in`) and every part of the description it refers to,
 * at the same places: Ajv resolves the `$ref`s as in the whole file, without reading all of it.
 */
function excerpt(document: Json, schema: Json): Json {
  const out: Json = { 'x-stand-in': schema };
  const seen = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/') && !seen.has(value)) {
        seen.add(value);
        const target = resolve(document, value);
        const parts = pointerPath(value);
        let at = out;
        for (const part of parts.slice(0, -1)) at = at[part] ??= {};
        at[parts.at(-1)!] = target;
        visit(target);
      } else visit(value);
    }
  };
  visit(schema);
  return out;
}

let compiledCount = 0;
function compileIn(ajv: Ajv, document: Json, schema: Json): ValidateFunction {
  const id = `pagerduty-stand-in-${++compiledCount}`;
  ajv.addSchema(excerpt(document, schema), id);
  return ajv.compile({ $ref: `${id}#/x-stand-in` });
}

function parameterObjects(spec: LoadedSpec, operation: Operation): Json[] {
  const all = [...operation.pathParameters, ...(operation.definition.parameters ?? [])].map((p: Json) => (p.$ref ? resolve(spec.document, p.$ref) : p));
  const byKey = new Map<string, Json>();
  for (const p of all) byKey.set(`${p.in}:${p.name}`, p);
  return [...byKey.values()];
}

async function compile(spec: LoadedSpec, operation: Operation): Promise<CompiledOperation> {
  const found = spec.compiled.get(operation);
  if (found) return found;
  const parameters = parameterObjects(spec, operation);
  const query = parameters.filter((p) => p.in === 'query');
  // `statuses[]` and its kind are exploded arrays that PagerDuty describes by their item's schema.
  const querySchema = (p: Json) => (p.name.endsWith('[]') && p.schema?.type !== 'array' ? { type: 'array', items: p.schema ?? {} } : (p.schema ?? {}));
  const headers = parameters.filter((p) => p.in === 'header');
  const json = operation.definition.requestBody?.content?.['application/json']?.schema as Json | undefined;
  parameterAjv ??= await newAjv(true);
  bodyAjv ??= await newAjv(false);
  const compiled: CompiledOperation = {
    query: compileIn(parameterAjv, spec.document, {
      type: 'object',
      properties: Object.fromEntries(query.map((p) => [p.name, querySchema(p)])),
      required: query.filter((p) => p.required).map((p) => p.name),
      additionalProperties: false,
    }),
    headers: compileIn(parameterAjv, spec.document, {
      type: 'object',
      properties: Object.fromEntries(headers.map((p) => [p.name.toLowerCase(), p.schema ?? {}])),
      required: headers.filter((p) => p.required).map((p) => p.name.toLowerCase()),
    }),
    headerNames: new Map(headers.map((p) => [p.name.toLowerCase(), p.name])),
    ...(json ? { body: compileIn(bodyAjv, spec.document, json) } : {}),
    bodyRequired: Boolean(operation.definition.requestBody?.required),
  };
  spec.compiled.set(operation, compiled);
  return compiled;
}

/** The operation a request names: literal segments win over `{parameters}` (`/incidents/count` before `/incidents/{id}`). */
function operationFor(spec: LoadedSpec, method: string, path: string): Operation | 'wrong method' | undefined {
  const segments = path.split('/').filter(Boolean);
  const matches = spec.operations.filter((o) => o.segments.length === segments.length && o.segments.every((s, i) => s.startsWith('{') || s === segments[i]));
  if (!matches.length) return undefined;
  const literals = (o: Operation) => o.segments.filter((s) => !s.startsWith('{')).length;
  const best = Math.max(...matches.map(literals));
  return matches.find((o) => literals(o) === best && o.method === method.toUpperCase()) ?? 'wrong method';
}

function describe(where: 'query' | 'header' | 'body', errors: ErrorObject[] | null | undefined, names = new Map<string, string>()): Refusals {
  return (errors ?? []).map((e) => {
    const at = `${where}${e.instancePath.replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties') return where === 'query' ? `unknown query parameter '${String(e.params.additionalProperty)}'` : `${at}: unknown property '${String(e.params.additionalProperty)}'`;
    const missing = String(e.params.missingProperty);
    if (e.keyword === 'required') return where === 'header' ? `the ${names.get(missing) ?? missing} header is required` : `'${at}.${missing}' is required`;
    if (e.keyword === 'maxLength') return `'${at}' is too long (maximum is ${String(e.params.limit)} characters)`;
    if (e.keyword === 'enum') return `'${at}' must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    return `'${at}' ${e.message ?? 'is invalid'}`;
  });
}

async function check(spec: LoadedSpec, request: ApiRequest, api: string): Promise<Refusals> {
  const operation = operationFor(spec, request.method, request.path);
  if (!operation) return [`${request.method} ${request.path} is not a path of PagerDuty's ${api}`];
  if (operation === 'wrong method') return [`${request.method} is not a method of ${request.path} in PagerDuty's ${api}`];
  const compiled = await compile(spec, operation);
  const refusals: Refusals = [];

  const query: Json = {};
  for (const name of new Set(request.query.keys())) {
    const values = request.query.getAll(name);
    query[name] = values.length > 1 || name.endsWith('[]') ? values : values[0];
  }
  if (!compiled.query(query)) refusals.push(...describe('query', compiled.query.errors));

  const hasBody = request.raw.trim() !== '';
  const headers: Json = {};
  for (const name of compiled.headerNames.keys()) {
    const value = [request.headers[name] ?? []].flat()[0];
    if (value === undefined) continue;
    // The media type, without parameters such as `charset`.
    headers[name] = name === 'content-type' ? value.split(';')[0]!.trim().toLowerCase() : value.trim();
  }
  // A request without a body has no content type to give: PagerDuty's description lists
  // Content-Type on reads too, but only a body is checked for one.
  if (!hasBody && headers['content-type'] === undefined && compiled.headerNames.has('content-type')) headers['content-type'] = 'application/json';
  if (!compiled.headers(headers)) refusals.push(...describe('header', compiled.headers.errors, compiled.headerNames));

  if (compiled.body) {
    if (!hasBody) {
      if (compiled.bodyRequired) refusals.push('a request body is required');
    } else {
      let body: unknown;
      try {
        body = JSON.parse(request.raw);
      } catch {
        return [...refusals, 'the request body is not valid JSON'];
      }
      if (!compiled.body(body)) refusals.push(...describe('body', compiled.body.errors));
    }
  }
  return refusals;
}

/** Why PagerDuty's REST API would refuse this request, from its published description. */
export function restRefusals(request: ApiRequest): Promise<Refusals> {
  return check(restSpec(), request, 'REST API');
}

/** Why PagerDuty's Events API v2 would refuse this request (path under `/v2`). */
export function eventsRefusals(request: ApiRequest): Promise<Refusals> {
  return check(eventsSpec(), request, 'Events API v2');
}

/** The REST API's 400, as PagerDuty answers it. */
export const restInvalid = (errors: Refusals) => ({ error: { message: 'Invalid Input Provided', code: 2001, errors } });

/** The Events API's 400, as PagerDuty answers it. */
export const eventsInvalid = (errors: Refusals) => ({ status: 'invalid event', message: 'Event object is invalid', errors });
