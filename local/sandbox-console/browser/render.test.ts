import { renderChannelMessages, renderCustomerCard, renderIncident, renderMrkdwn, renderServiceSwitches } from './render';

const users = { UPDROUTERBOT: 'pd-router', UACME: 'Acme customer' };

describe('the console’s Slack rendering', () => {
  it('never lets a customer’s text become markup', () => {
    expect(renderMrkdwn('&lt;img src=x onerror=alert(1)&gt; <script>alert(1)</script> <javascript:alert(1)|click>', users)).not.toMatch(/<(img|script|a)\b/);
    expect(renderMrkdwn('<https://x.test/"onmouseover="alert(1)|label>', users)).toBe('<a href="https://x.test/&quot;onmouseover=&quot;alert(1)" target="_blank" rel="noopener noreferrer">label</a>');
  });

  it('draws mentions, bold links, quotes and emoji as Slack shows them', () => {
    expect(renderMrkdwn('<@UACME> said', users)).toBe('<span class="mention">@Acme customer</span> said');
    expect(renderMrkdwn('*<https://pd.test/1|Checkout down>*\nResolved', users)).toBe('<strong><a href="https://pd.test/1" target="_blank" rel="noopener noreferrer">Checkout down</a></strong><br>Resolved');
    expect(renderMrkdwn(':rotating_light: *Paged*\n>a &gt; b', users)).toBe('🚨 <strong>Paged</strong><br><blockquote>a &gt; b</blockquote>');
    // The confirmation prompt's emoji, asked and decided.
    expect(renderMrkdwn(':question: :white_check_mark: :no_entry_sign: :hourglass:', users)).toBe('❓ ✅ 🚫 ⌛');
  });

  it('draws a link title with `&<>` once unescaped, as Slack does, never as entities', () => {
    const html = renderMrkdwn('*<https://pd.test/1?a=1&amp;b=2|db &lt;down&gt; &amp; out>*', users);
    expect(html).toBe('<strong><a href="https://pd.test/1?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">db &lt;down&gt; &amp; out</a></strong>');
    expect(html).not.toMatch(/&amp;(lt|gt|amp);/);
    expect(renderMrkdwn('<@UACME|a &lt;b&gt;>', users)).toBe('<span class="mention">@a &lt;b&gt;</span>');
  });

  it('puts thread replies under their message and marks what only one user sees', () => {
    const html = renderChannelMessages(
      {
        id: 'CACME',
        name: 'customer-acme',
        messages: [{ ts: '1.000001', user: 'UACME', text: 'help', edits: 0, replies: [{ ts: '1.000002', user: 'UPDROUTERBOT', text: 'Status: resolved', edits: 0, onlyVisibleTo: 'UACME', replies: [] }] }],
      },
      users,
      'UPDROUTERBOT',
    );
    expect(html).toContain('<div class="thread-label">1 reply</div>');
    expect(html).toContain('Only visible to you');
  });

  it('draws a confirmation prompt’s buttons with the action id and value a click sends, Page on-call in Slack’s danger red', () => {
    const prompt = { type: 'actions', elements: [{ type: 'button', action_id: 'page_oncall', style: 'danger', text: { type: 'plain_text', text: 'Page on-call' }, value: 'pdr-1' }, { type: 'button', action_id: 'cancel_page', text: { type: 'plain_text', text: 'Cancel' }, value: 'pdr-1' }] };
    const html = renderChannelMessages({ id: 'CACME', name: 'customer-acme', messages: [{ ts: '1.000001', user: 'UPDROUTERBOT', text: 'Page on-call?', blocks: [prompt], edits: 0, replies: [] }] }, users, 'UPDROUTERBOT');
    expect(html).toContain('<button type="button" class="block-button danger" data-click="page_oncall" data-value="pdr-1" data-channel="CACME" data-message-ts="1.000001">Page on-call</button>');
    expect(html).toContain('<button type="button" class="block-button" data-click="cancel_page" data-value="pdr-1" data-channel="CACME" data-message-ts="1.000001">Cancel</button>');
  });

  it('shows each channel’s customer: name, pages left this hour, confirmation; or that it is not one', () => {
    const card = renderCustomerCard({ name: 'Acme <Corp>', pagesPerHour: 3, budgetLeft: 1, confirm: false });
    expect(card).toContain('Acme &lt;Corp&gt;');
    expect(card).toContain('1 of 3 pages left this hour');
    expect(card).toContain('confirmation off');
    expect(renderCustomerCard({ name: 'Globex', pagesPerHour: 3, budgetLeft: 0, confirm: true })).toMatch(/over-budget.*confirmation on/);
    expect(renderCustomerCard(undefined)).toContain('Not a customer');
  });

  it('shows a customer\'s last 30 days on its card: counts, the median time to acknowledge, a bar per day', () => {
    const perDay = new Array<number>(30).fill(0);
    perDay[0] = 1;
    perDay[29] = 2;
    const card = renderCustomerCard({ name: 'Acme', pagesPerHour: 3, budgetLeft: 3, confirm: false, recent: { days: 30, asked: 3, paged: 2, medianAckSeconds: 245, perDay } });
    expect(card).toContain('last 30 days: 3 asked, 2 paged, acknowledged in 4m 05s (median)');
    // The busiest day is full height, the other in proportion; days without one draw nothing.
    expect(card.match(/<rect /g)).toHaveLength(2);
    expect(card).toContain('<rect x="87" y="0" width="2" height="12">');
    expect(card).toContain('<rect x="0" y="6" width="2" height="6">');
    expect(renderCustomerCard({ name: 'Quiet', pagesPerHour: 3, budgetLeft: 3, confirm: false, recent: { days: 30, asked: 0, paged: 0, perDay: new Array<number>(30).fill(0) } })).toContain('last 30 days: 0 asked</span>');
  });

  it('shows the sandbox service’s switches, each button turning its switch the other way', () => {
    const normal = renderServiceSwitches({ webhooks: 'on', lostWebhooks: 0, maintenance: false, suppressedAlerts: 0 });
    expect(normal).toContain('data-switch="webhooks" data-on="false">Webhooks on');
    expect(normal).toContain('data-switch="maintenance" data-on="true">Maintenance off');
    const broken = renderServiceSwitches({ webhooks: 'off', lostWebhooks: 2, maintenance: true, suppressedAlerts: 1 });
    expect(broken).toContain('data-on="true">Webhooks OFF (2 lost)');
    expect(broken).toContain('data-on="false">Maintenance ON (1 without incident)');
    expect(renderServiceSwitches(undefined)).toBe('');
  });

  it('shows the notes on an incident (customers’ thread replies), as text', () => {
    const card = renderIncident({ id: 'Q1', number: 4, title: 'Checkout down', status: 'acknowledged', assignees: ['Sandbox On-Call'], notes: ["Slack, #customer-acme, @UACME: It's only <b>EU</b> users"] });
    expect(card).toContain('<dt>Note</dt><dd class="note">Slack, #customer-acme, @UACME: It&#39;s only &lt;b&gt;EU&lt;/b&gt; users</dd>');
    expect(renderIncident({ id: 'Q2', number: 5, title: 'Other', status: 'triggered', assignees: [] })).not.toContain('<dt>Note</dt>');
  });
});
