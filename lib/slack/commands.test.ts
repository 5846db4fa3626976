import { pagerDutyText, parseCommand, slackMarkupToPlainText, textAfterBotMention, trimSummary } from './commands';

const BOT = 'U0BOT';

describe('textAfterBotMention', () => {
  it('keeps everything after the first mention of the bot, including other mentions and links', () => {
    const text = `<@${BOT}> escalate <@U123> says <https://status.example.com/x|the status page> is red in <#C42|ops>`;
    expect(textAfterBotMention(text, BOT)).toBe('escalate <@U123> says <https://status.example.com/x|the status page> is red in <#C42|ops>');
  });

  it('cuts only the bot mention when the bot is mentioned again later', () => {
    expect(textAfterBotMention(`hey <@${BOT}> escalate tell <@${BOT}> twice`, BOT)).toBe(`escalate tell <@${BOT}> twice`);
  });

  it('falls back to the first mention when the bot id is unknown', () => {
    expect(textAfterBotMention('<@UOTHER|bot> escalate it broke')).toBe('escalate it broke');
  });
});

describe('parseCommand', () => {
  it('escalate with a description', () => {
    expect(parseCommand('escalate API is returning 500 errors', 'ping')).toEqual({ type: 'escalate', description: 'API is returning 500 errors' });
  });

  it('escalate is case-insensitive and keeps the description as written', () => {
    expect(parseCommand('ESCALATE   Checkout <https://a.b/c|link> down', 'ping')).toEqual({ type: 'escalate', description: 'Checkout <https://a.b/c|link> down' });
  });

  it('escalate without a description asks for help', () => {
    expect(parseCommand('escalate   ', 'ping')).toEqual({ type: 'help' });
  });

  it('"escalated" is not "escalate"', () => {
    expect(parseCommand('escalated yesterday', 'ping')).toEqual({ type: 'help' });
  });

  it('the ping phrase alone gives a ping', () => {
    expect(parseCommand('piiano-ping-bot', 'piiano-ping-bot')).toEqual({ type: 'ping' });
    expect(parseCommand('piiano-ping-bot now', 'piiano-ping-bot')).toEqual({ type: 'help' });
  });

  it('anything else, or nothing, is help', () => {
    expect(parseCommand('hello there', 'ping')).toEqual({ type: 'help' });
    expect(parseCommand('', 'ping')).toEqual({ type: 'help' });
  });
});

describe('slackMarkupToPlainText', () => {
  it('renders users, channels, links and entities readably', () => {
    expect(slackMarkupToPlainText('<@U1> in <#C1|ops> saw <https://x.io/a?b=1&amp;c=2|errors> &amp; <https://y.io> &lt;3 <!here>')).toBe(
      '@U1 in #ops saw errors (https://x.io/a?b=1&c=2) & https://y.io <3 @here',
    );
  });
});

describe('pagerDutyText: what a customer typed reaches PagerDuty as text, never as live markup', () => {
  const toPagerDuty = (slackText: string) => pagerDutyText(slackMarkupToPlainText(slackText));
  /** Anything Slack (PagerDuty's own Slack integration), HTML or Markdown would read as markup. */
  const LIVE = /<[^>]*>|\]\(/;

  it.each([
    // As Slack sends what a person typed literally: angle brackets escaped, a typed URL linked.
    ['&lt;!channel&gt; we are down', '&lt;!channel&gt; we are down'],
    ['&lt;!here|here&gt; &lt;!everyone&gt;', '&lt;!here|here&gt; &lt;!everyone&gt;'],
    ['ask &lt;@U0ADMIN&gt;', 'ask &lt;@U0ADMIN&gt;'],
    ['&lt;<https://evil.example>|PagerDuty: reset your password&gt;', '&lt;https://evil.example|PagerDuty: reset your password&gt;'],
    ['&lt;https://evil.example|PagerDuty: reset your password&gt;', '&lt;https://evil.example|PagerDuty: reset your password&gt;'],
    ['[PagerDuty: reset your password](<https://evil.example>)', 'PagerDuty: reset your password (https://evil.example)'],
    ['<https://evil.example|https://pagerduty.com/reset>', 'hxxps://pagerduty[.]com/reset (https://evil.example)'],
    ['[www.pagerduty.com](https://evil.example)', 'www[.]pagerduty[.]com (https://evil.example)'],
  ])('%s → %s', (typed, shown) => {
    expect(toPagerDuty(typed)).toBe(shown);
    expect(toPagerDuty(typed)).not.toMatch(LIVE);
  });

  it('Slack\'s own mentions and links become plain words, as before', () => {
    expect(toPagerDuty('<!channel> <@U1> <#C1|ops> <https://x.io|errors> a &lt; b &amp;&amp; c &gt; d')).toBe('@channel @U1 #ops errors (https://x.io) a &lt; b && c &gt; d');
  });
});

describe('trimSummary', () => {
  it('keeps summaries within the limit and marks the cut', () => {
    const long = 'x'.repeat(2000);
    const trimmed = trimSummary(long);
    expect(Array.from(trimmed)).toHaveLength(1024);
    expect(trimmed.endsWith('…')).toBe(true);
    expect(trimSummary('short')).toBe('short');
  });

  it('never splits an emoji', () => {
    const trimmed = trimSummary('😀'.repeat(1100));
    expect(trimmed).toBe(`${'😀'.repeat(1023)}…`);
  });
});
