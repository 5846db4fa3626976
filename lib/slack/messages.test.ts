import type { IncidentLink } from '../store/incident-links';
import { confirmationMessage, incidentUpdateMessage, refusalMessage, statusMessage } from './messages';

const link: IncidentLink = {
  dedupKey: 'pdr-0123456789abcdef0123456789abcdef',
  team: 'T1',
  channel: 'CACME',
  threadTs: '1.1',
  requester: 'U1',
  summary: 'Checkout fails <!channel> & <https://evil.test|click>',
  createdAt: '2026-11-26T10:00:00Z',
  state: 'triggered',
  incidentNumber: 12,
  status: 'acknowledged',
};

const update = {
  eventType: 'incident.reassigned' as const,
  occurredAt: '2026-11-26T10:05:00Z',
  agentName: 'Dana Scully',
  incident: { number: 12, title: 'Checkout fails', urgency: 'high', htmlUrl: 'https://pd.test/incidents/P1', assignees: ['Fox Mulder'] },
};

describe('customer-facing messages', () => {
  it('show responder names by default', () => {
    const text = JSON.stringify(incidentUpdateMessage(link, update, 'triggered', true));
    expect(text).toContain('Reassigned by Dana Scully to Fox Mulder');
  });

  it('SHOW_RESPONDER_NAMES=false hides who did it and who has it', () => {
    const message = JSON.stringify(incidentUpdateMessage(link, update, 'triggered', false));
    expect(message).not.toMatch(/Dana|Fox/);
    const status = JSON.stringify(statusMessage(link, { id: 'P1', status: 'acknowledged', assignees: ['Fox Mulder'] }, false));
    expect(status).not.toContain('Fox');
  });

  it('escape what a customer wrote, so it cannot ping the channel or fake a link', () => {
    const rendered = JSON.stringify(confirmationMessage(link).blocks);
    expect(rendered).toContain('&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;');
    expect(rendered).not.toContain('<!channel>');
  });

  it('every incident message carries the Check Status button with the opaque dedup key', () => {
    for (const message of [confirmationMessage(link), incidentUpdateMessage(link, update, 'acknowledged', true)]) {
      const button = JSON.stringify(message.blocks);
      expect(button).toContain('"action_id":"check_status"');
      expect(button).toContain(`"value":"${link.dedupKey}"`);
    }
  });

  it('the confirmation shows the current status and number', () => {
    expect(confirmationMessage(link).text).toBe(`On-call has been paged #12 (acknowledged): ${link.summary}`);
  });

  it('the refusal carries no incident data', () => {
    const refusal = JSON.stringify(refusalMessage());
    expect(refusal).not.toMatch(/pdr-|#12|Checkout|CACME/);
  });
});
