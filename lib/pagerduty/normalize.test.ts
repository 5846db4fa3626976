import { PAGERDUTY_HANDLED_EVENT_TYPES, parsePagerDutyQueueEvent } from '../events';
import { normalizePagerDutyWebhook, statusOf } from './normalize';

const RECEIVED = new Date('2026-11-26T10:00:00.000Z');

function webhook(eventType: string, overrides: { agent?: unknown; data?: Record<string, unknown>; resource_type?: string } = {}) {
  return {
    event: {
      id: 'EVT1',
      event_type: eventType,
      resource_type: overrides.resource_type ?? 'incident',
      occurred_at: '2026-11-26T09:59:58.123Z',
      agent: overrides.agent === undefined ? { id: 'PU1', type: 'user_reference', summary: 'Dana Scully', email: 'dana@provider.test' } : overrides.agent,
      client: null,
      data: {
        id: 'PINC1',
        type: 'incident',
        number: 42,
        status: 'acknowledged',
        incident_key: 'pdr-0123456789abcdef0123456789abcdef',
        title: 'API is returning 500 errors',
        urgency: 'high',
        html_url: 'https://provider.pagerduty.test/incidents/PINC1',
        assignees: [{ id: 'PU1', type: 'user_reference', summary: 'Dana Scully', email: 'dana@provider.test' }],
        priority: { id: 'PP1', summary: 'P1' },
        service: { id: 'PS1', summary: 'Internal billing service' },
        ...overrides.data,
      },
    },
  };
}

describe('normalizePagerDutyWebhook', () => {
  it.each(PAGERDUTY_HANDLED_EVENT_TYPES)('turns %s into a contract event that validates', (eventType) => {
    const event = normalizePagerDutyWebhook(webhook(eventType), 'WH1', RECEIVED);
    if (typeof event === 'string') throw new Error(`ignored: ${event}`);
    expect(event).toMatchObject({
      kind: 'pagerduty.incident',
      id: 'EVT1',
      webhookId: 'WH1',
      eventType,
      occurredAt: '2026-11-26T09:59:58.123Z',
      agentName: 'Dana Scully',
      incident: { id: 'PINC1', number: 42, status: 'acknowledged', incidentKey: 'pdr-0123456789abcdef0123456789abcdef', assignees: ['Dana Scully'], priority: 'P1' },
    });
    expect(parsePagerDutyQueueEvent(JSON.stringify(event))).toEqual(event);
  });

  it('keeps no e-mail address and nothing about the service', () => {
    const event = normalizePagerDutyWebhook(webhook('incident.reassigned'), undefined, RECEIVED);
    expect(JSON.stringify(event)).not.toMatch(/@provider\.test|billing/);
  });

  it('accepts agent: null (automated changes)', () => {
    const event = normalizePagerDutyWebhook(webhook('incident.resolved', { agent: null }), undefined, RECEIVED);
    expect(typeof event !== 'string' && event.agentName).toBeNull();
  });

  it('keeps incidents without incident_key (several alerts)', () => {
    const event = normalizePagerDutyWebhook(webhook('incident.triggered', { data: { incident_key: null } }), undefined, RECEIVED);
    expect(typeof event !== 'string' && event.incident.incidentKey).toBeUndefined();
  });

  it('answers ping, other resources and unhandled types with a reason, not an error', () => {
    expect(normalizePagerDutyWebhook({ event: { id: 'P', event_type: 'pagey.ping' } }, undefined, RECEIVED)).toBe('ping');
    expect(normalizePagerDutyWebhook(webhook('service.updated', { resource_type: 'service' }), undefined, RECEIVED)).toBe('not an incident');
    expect(normalizePagerDutyWebhook(webhook('incident.annotated'), undefined, RECEIVED)).toBe('unhandled event type');
  });

  it('rejects bodies without the fields routing needs', () => {
    expect(() => normalizePagerDutyWebhook({}, undefined, RECEIVED)).toThrow('body has no event object');
    expect(() => normalizePagerDutyWebhook(webhook('incident.resolved', { data: { id: undefined } }), undefined, RECEIVED)).toThrow('event.data.id');
    const noTime = webhook('incident.resolved');
    (noTime.event as Record<string, unknown>).occurred_at = 'yesterday';
    expect(() => normalizePagerDutyWebhook(noTime, undefined, RECEIVED)).toThrow('occurred_at');
  });
});

describe('statusOf', () => {
  it('uses the status PagerDuty sent, or the one the event type implies', () => {
    const event = normalizePagerDutyWebhook(webhook('incident.resolved', { data: { status: undefined } }), undefined, RECEIVED);
    if (typeof event === 'string') throw new Error('ignored');
    expect(statusOf(event)).toBe('resolved');
    expect(statusOf({ ...event, eventType: 'incident.unacknowledged' })).toBe('triggered');
    expect(statusOf({ ...event, eventType: 'incident.priority_updated' })).toBeUndefined();
  });
});
