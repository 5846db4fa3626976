import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { SignatureError } from '../errors';
import type { Logger } from './log';

export type HeaderBag = Record<string, string | undefined>;

/** Look a header up case-insensitively (API Gateway lower-cases, Node's http keeps what came). */
export function header(headers: HeaderBag, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * The most of an unsigned header value ever logged. Headers are not covered by Slack's or
 * PagerDuty's signatures, so anyone can send up to API Gateway's header limit (8 KB, or more
 * locally): whatever reaches a log line of such a value is a short prefix, printable ASCII only.
 */
export const LOGGED_HEADER_MAX_LENGTH = 40;

/** An unsigned header value as it may be logged: its first LOGGED_HEADER_MAX_LENGTH characters, and how long it was when longer. */
export function loggedHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const shown = value.slice(0, LOGGED_HEADER_MAX_LENGTH).replace(/[^\x20-\x7e]/g, '?');
  return value.length > LOGGED_HEADER_MAX_LENGTH ? `${shown}… (${value.length} characters)` : shown;
}

/** Slack and PagerDuty bodies are a few KB; anything near SQS's 256 KB message limit is not theirs. */
export const MAX_BODY_BYTES = 128 * 1024;

/** What an ingress needs from an HTTP request, whoever carried it (API Gateway or the local server). */
export interface IngressRequest {
  rawBody: Buffer;
  headers: HeaderBag;
}

export type IngressResponse = APIGatewayProxyStructuredResultV2 & { statusCode: number };

/** The exact bytes API Gateway received: base64 bodies are decoded to bytes, never re-encoded as text. */
export function fromApiGateway(event: APIGatewayProxyEventV2): IngressRequest {
  const body = event.body ?? '';
  return {
    rawBody: event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8'),
    headers: event.headers ?? {},
  };
}

export function json(statusCode: number, body: unknown): IngressResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function text(statusCode: number, body: string): IngressResponse {
  return { statusCode, headers: { 'content-type': 'text/plain; charset=utf-8' }, body };
}

/** Every rejection says what is wrong, in the same shape. */
export function rejection(statusCode: number, reason: string): IngressResponse {
  return json(statusCode, { error: reason });
}

/** The media type without parameters, lower-cased. */
export function mediaType(headers: HeaderBag): string {
  const value = Object.entries(headers).find(([key]) => key.toLowerCase() === 'content-type')?.[1] ?? '';
  return value.split(';')[0]!.trim().toLowerCase();
}

/**
 * The checks every ingress makes before it reads a byte of the body: its size, then its
 * signature (`verify` throws SignatureError). Returns the rejection to answer, or undefined.
 */
export function rejectUnverified(request: IngressRequest, logger: Logger, verify: () => void): IngressResponse | undefined {
  if (request.rawBody.length > MAX_BODY_BYTES) {
    logger.warn('rejected: body too large', { bytes: request.rawBody.length });
    return rejection(413, `body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  try {
    verify();
    return undefined;
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    logger.warn('rejected: signature check failed', { reason: error.message });
    return rejection(401, error.message);
  }
}
