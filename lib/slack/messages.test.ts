import fc from 'fast-check';
import { blockKitErrors } from '../../local/stand-ins/block-kit';
import { customerView, isSlackUserId, shownPerson, shownStatusUpdate, type CustomerView, type Happening } from '../tenancy/customer-view';
import type { SlackMessage } from './web-api';
import * as messages from './messages';
import { combinedStatusUpdateMessage, confirmationMessage, confirmPromptMessage, escalationNotOpenedMessage, escapeMrkdwn, foldedMessage, handledTogetherMessage, incidentUpdateMessage, promptDecidedMessage, refusalMessage, statusMessage, statusUpdateMessage } from './messages';

// The builders take customer data only as lib/tenancy/customer-view.ts makes it: the compiler
// checks that nothing else is accepted (test/types/renderer-input.ts), so these tests build their
// input the way the workers do.

/** The view of a channel's link, as the workers build it; `words` is what the customer wrote. */
function viewOf(changes: { ref?: number; words?: string } = {}): CustomerView {
  return customerView({
    dedupKey: 'pdr-0123456789abcdef0123456789abcdef',
    team: 'T0PROVIDER',
    channel: 'C0ACME00001',
    requester: 'U1ABC',
    summary: changes.words ?? 'Checkout fails <!channel> & <https://evil.test|click>',
    createdAt: '2026-01-01T00:00:00.000Z',
    state: 'triggered',
    ref: changes.ref ?? 3,
    status: 'acknowledged',
  });
}
const view = viewOf();

/** A person's name where the names rule shows names. */
const named = (name: string) => shownPerson(name, true);
/** On-call's text as shown on an incident that is the escalation's own and holds nothing else. */
const ownUpdate = (text: string) => shownStatusUpdate(text, { heldBy: 'own' }, 1)!;

/** Every string Slack would render or notify from: the top-level text and all text in blocks. */
function renderedTexts(message: SlackMessage): string[] {
  const texts: string[] = [message.text];
  const walk = (value: unknown, key?: string) => {
    if (typeof value === 'string' && key === 'text') texts.push(value);
    else if (Array.isArray(value)) value.forEach((v) => walk(v));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  walk(message.blocks);
  return texts;
}

/** Slack markup pd-router itself writes: the requester's mention and the quote marker at a line's start. */
const OWN_MARKUP = /<@U1ABC>|(?<=^|\n)>/g;

describe('customer-facing messages', () => {
  const reassigned: Happening = { kind: 'reassigned', to: [named('Fox Mulder')] };

  it('name a person who handles it when names are shown', () => {
    expect(JSON.stringify(incidentUpdateMessage(view, reassigned))).toContain('Reassigned to Fox Mulder');
    expect(JSON.stringify(incidentUpdateMessage(view, { kind: 'resolved', by: named('Dana Scully') }))).toContain('Resolved by Dana Scully');
  });

  it('say "the on-call team" when no person may be named (names off, or a service or integration acted)', () => {
    expect(JSON.stringify(incidentUpdateMessage(view, { kind: 'resolved', by: undefined }))).toContain('Resolved by the on-call team');
    expect(JSON.stringify(incidentUpdateMessage(view, { kind: 'reassigned', to: [undefined] }))).toContain('Reassigned to another on-call responder');
    const status = JSON.stringify(statusMessage(view, { status: 'acknowledged', handledBy: [undefined] }));
    expect(status).not.toContain('Handled by');
  });

  it('show the channel\'s own reference, never a PagerDuty number', () => {
    expect(confirmationMessage(view).text).toBe('On-call has been paged (escalation #3) (acknowledged): Checkout fails &lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;');
    expect(incidentUpdateMessage(view, { kind: 'escalated' }).text).toBe('Escalation #3: Escalated to the next on-call responder (acknowledged)');
  });

  it('escape what a customer wrote in the blocks and in the top-level text, so it cannot ping the channel or fake a link', () => {
    for (const message of [confirmationMessage(view), statusMessage(view, { status: 'triggered', handledBy: [] })]) {
      for (const text of renderedTexts(message)) {
        expect(text).not.toContain('<!channel>');
        expect(text).not.toContain('<https://evil.test');
      }
      expect(JSON.stringify(message)).toContain('&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;');
    }
  });

  it('tell a merge or a grouping without anything about the other incident', () => {
    expect(handledTogetherMessage(view).text).toBe('Escalation #3: Your escalation is now handled together with a related incident; updates continue here. (acknowledged)');
  });

  it('every incident message carries the Check Status button with the opaque dedup key', () => {
    for (const message of [confirmationMessage(view), incidentUpdateMessage(view, reassigned), handledTogetherMessage(view)]) {
      const button = JSON.stringify(message.blocks);
      expect(button).toContain('"action_id":"check_status"');
      expect(button).toContain(`"value":"${view.dedupKey}"`);
    }
  });

  it('a status update: on-call\'s text escaped and quoted, from the person under the names rule or the on-call team, with the button', () => {
    const update = statusUpdateMessage(view, ownUpdate('DB lock <!channel> & <@U0X|x>\nnext update 08:15'), named('Dana <Scully>'));
    expect(update.text).toBe('Escalation #3: status update from Dana &lt;Scully&gt;: DB lock &lt;!channel&gt; &amp; &lt;@U0X|x&gt;\nnext update 08:15 (acknowledged)');
    const blocks = JSON.stringify(update.blocks);
    expect(blocks).toContain('>DB lock &lt;!channel&gt; &amp; &lt;@U0X|x&gt;\\n>next update 08:15');
    expect(blocks).not.toMatch(/<!channel>|<@U0X/);
    expect(blocks).toContain(`"value":"${view.dedupKey}"`);
    expect(statusUpdateMessage(view, ownUpdate('Fixed.'), undefined).text).toBe('Escalation #3: status update from the on-call team: Fixed. (acknowledged)');
  });

  it('a status update loses bidi controls and zero-width characters', () => {
    const update = statusUpdateMessage(view, ownUpdate('Fixed \u202Egnp.exe\u202C in\u200B 5\u2066 min\uFEFF'), undefined);
    expect(update.text).toBe('Escalation #3: status update from the on-call team: Fixed gnp.exe in 5 min (acknowledged)');
    expect(JSON.stringify(update.blocks)).not.toMatch(/\\u(202e|202c|200b|2066|feff)/i);
  });

  it('a status update on a combined incident: that there was one and the status, nothing of its text or author', () => {
    const combined = combinedStatusUpdateMessage(view);
    expect(combined.text).toBe('Escalation #3: On-call posted a status update on the combined incident your escalation is part of. Its text is not shown here; the status is below. (acknowledged)');
    expect(JSON.stringify(combined.blocks)).toContain(`"value":"${view.dedupKey}"`);
  });

  it('no incident opened: says so plainly, names whom to contact (escaped), and nothing of PagerDuty', () => {
    const message = escalationNotOpenedMessage(view, 'support <@U0ADMIN>');
    expect(message.text).toBe(':warning: PagerDuty received escalation #3 but has not opened an incident for it, so on-call may not have been paged. Please contact support &lt;@U0ADMIN&gt; directly. If an incident opens later, you will see it here.');
    expect(JSON.stringify(message)).not.toMatch(/Checkout|pdr-/);
  });

  it('the refusal carries no incident data', () => {
    const refusal = JSON.stringify(refusalMessage());
    expect(refusal).not.toMatch(/pdr-|#3|Checkout|U1ABC/);
  });
});

describe('escaping, as a property over arbitrary text with Slack control sequences', () => {
  const controls = ['<!channel>', '<!here>', '<!everyone>', '<!subteam^S123|@ops>', '<@U999>', '<#C999|general>', '<https://evil.test|Check Status>', '<mailto:x@y.z>', '&', '&lt;', '&amp;lt;', '<', '>', '*', '`', '\n'];
  const text = fc.array(fc.oneof(fc.string(), fc.constantFrom(...controls), fc.string({ unit: 'grapheme' })), { maxLength: 12 }).map((parts) => parts.join(''));

  it('no customer text or name ever yields Slack markup in anything pd-router posts', () => {
    fc.assert(
      fc.property(text, text, fc.integer({ min: 1, max: 9999 }), (words, anyName, ref) => {
        const customer = viewOf({ ref, words });
        const name = named(anyName);
        const rendered = [
          confirmationMessage(customer),
          incidentUpdateMessage(customer, { kind: 'acknowledged', by: name }),
          incidentUpdateMessage(customer, { kind: 'reassigned', to: [name, undefined] }),
          handledTogetherMessage(customer),
          statusMessage(customer, { status: 'acknowledged', urgency: 'high', handledBy: [name] }),
          confirmPromptMessage(customer),
          promptDecidedMessage(customer, 'confirmed', 'U1ABC'),
          promptDecidedMessage(customer, 'cancelled', anyName),
          foldedMessage(customer),
        ].flatMap(renderedTexts);
        // The one mention pd-router makes of its own: who decided a prompt, when that is a Slack user id.
        const decidedBy = isSlackUserId(anyName) ? `<@${anyName}>` : undefined;
        for (const out of rendered) {
          const withoutOwn = (decidedBy ? out.split(decidedBy).join('') : out).replace(OWN_MARKUP, '');
          // Slack markup needs an unescaped '<'; escaped text has none left.
          expect(withoutOwn).not.toContain('<');
          expect(withoutOwn).not.toContain('>');
          // Every '&' starts one of the three entities escaping produced.
          expect(withoutOwn.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('escaping is reversible, so the customer reads exactly their own words', () => {
    fc.assert(
      fc.property(text, (words) => {
        const unescaped = escapeMrkdwn(words).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
        expect(unescaped).toBe(words);
      }),
    );
  });
});

describe("Block Kit's limits (Slack refuses the whole message with invalid_blocks)", () => {
  const LONG = {
    'escaped characters (a pasted HTML page or log)': '<b>&</b>'.repeat(600),
    'many lines (each becomes a quoted line)': 'line\n'.repeat(1000),
    'plain characters': 'x'.repeat(5000),
  };

  it.each(Object.entries(LONG))('every message stays within them for the longest words: %s', (_what, words) => {
    const long = viewOf({ words });
    const built: Record<string, SlackMessage> = {
      confirmation: confirmationMessage(long),
      prompt: confirmPromptMessage(long),
      decided: promptDecidedMessage(long, 'cancelled', 'U1ABC'),
      statusUpdate: statusUpdateMessage(view, ownUpdate(words), named('Dana Scully')),
      status: statusMessage(long, { status: 'triggered', urgency: 'high', handledBy: [named('Dana Scully')] }),
      notOpened: escalationNotOpenedMessage(long, 'support@provider.test'),
    };
    for (const [name, message] of Object.entries(built)) expect({ name, errors: message.blocks ? blockKitErrors(message.blocks) : [] }).toEqual({ name, errors: [] });
    // Cut where it had to be, and said so.
    expect(String((confirmationMessage(long).blocks![0] as { text: { text: string } }).text.text).length).toBeLessThanOrEqual(messages.SECTION_TEXT_MAX);
  });

  it('cuts a quoted text at the limit with an ellipsis, never inside an entity', () => {
    const section = (confirmationMessage(viewOf({ words: '&'.repeat(2000) })).blocks![0] as { text: { text: string } }).text.text;
    expect(section.length).toBeLessThanOrEqual(messages.SECTION_TEXT_MAX);
    expect(section).toMatch(/(&amp;)+…$/);
  });

  it('words a receipt in the customer\'s terms: its own times from when they asked, in minutes or hours and minutes', () => {
    expect(messages.receiptMessage({ acknowledgedAfterSeconds: 240, resolvedAfterSeconds: 38 * 60 + 20 }).text).toBe(':receipt: Acknowledged 4 minutes after you asked; resolved after 38 minutes.');
    expect(messages.receiptMessage({ acknowledgedAfterSeconds: 29, resolvedAfterSeconds: 2 * 3600 + 5 * 60 }).text).toBe(':receipt: Acknowledged under a minute after you asked; resolved after 2 hours 5 minutes.');
    expect(messages.receiptMessage({ resolvedAfterSeconds: 60 }).text).toBe(':receipt: Resolved 1 minute after you asked.');
    expect(messages.receiptMessage({ resolvedAfterSeconds: 3 * 3600 }).text).toBe(':receipt: Resolved 3 hours after you asked.');
  });
});
