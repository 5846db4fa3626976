import { ErrorCode } from '@slack/web-api';
import { ChannelGoneError, PermanentError, RateLimitedError, TransientError } from '../errors';
import { classifySlackError } from './web-api';

/** An error as @slack/web-api throws it when Slack answers `ok: false`. */
const platformError = (error: string) => Object.assign(new Error(`An API error occurred: ${error}`), { code: ErrorCode.PlatformError, data: { ok: false, error } });

describe("Slack's errors as pd-router's", () => {
  it.each(['channel_not_found', 'not_in_channel', 'is_archived'])('%s: the channel is gone for good (ChannelGoneError, Slack\'s error kept as its code)', (error) => {
    const classified = classifySlackError(platformError(error), 'chat.postMessage');
    expect(classified).toBeInstanceOf(ChannelGoneError);
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified).toMatchObject({ name: 'ChannelGoneError', code: error, retryable: false });
  });

  it('any other refusal is retried, and a rate limit is counted as one', () => {
    const other = classifySlackError(platformError('internal_error'), 'chat.postMessage');
    expect(other).toBeInstanceOf(TransientError);
    expect(other).not.toBeInstanceOf(PermanentError);
    const limited = classifySlackError(Object.assign(new Error('rate limited'), { code: ErrorCode.RateLimitedError, retryAfter: 7 }), 'chat.postMessage');
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited).toMatchObject({ retryAfterSeconds: 7 });
  });
});
