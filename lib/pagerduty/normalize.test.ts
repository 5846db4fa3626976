import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../events';
import { parsePagerDutyQueueEvent } from '../pagerduty-events';
import { fixture, fixturesIn } from '../../test/fixtures';
import { normalizePagerDutyWebhook, statusOf } from './normalize';

const RECEIVED = new Date('2026-11-26T10:00:00.000Z');

function webhook(eventType: string, overrides: { agent?: unknown; data?: Record<string, unknown>; resource_type?: string } = {}) {
  const body = incidentWebhook(eventType, overrides);
  if (eventType !== 'incident.status_update_published') return body;
  // A note-type event: the incident by reference in data.incident, the note's own fields in data.
  const { id, html_url, title } = body.event.data;
  return { event: { ...body.event, data: { incident: { id, type: 'incident_reference', html_url, summary: title }, id: 'PSU1', message: 'Fix rolling out', type: 'incident_status_update' } } };
}

function incidentWebhook(eventType: string, overrides: { agent?: unknown; data?: Record<string, unknown>; resource_type?: string } = {}) {
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
      // A status update's incident is a bare reference: its id, and its message beside it.
      incident:
        eventType === 'incident.status_update_published'
          ? { id: 'PINC1', assignees: [] }
          : { id: 'PINC1', status: 'acknowledged', incidentKey: 'pdr-0123456789abcdef0123456789abcdef', assignees: ['Dana Scully'] },
      ...(eventType === 'incident.status_update_published' ? { statusUpdate: 'Fix rolling out' } : {}),
    });
    expect(parsePagerDutyQueueEvent(JSON.stringify(event))).toEqual(event);
  });

  it('keeps nothing of the provider\'s: no title, URL, number, service, priority or e-mail address', () => {
    const event = normalizePagerDutyWebhook(webhook('incident.reassigned'), undefined, RECEIVED);
    expect(JSON.stringify(event)).not.toMatch(/@provider\.test|billing|API is returning|pagerduty\.test|42|P1"/);
  });

  it('names an agent only when the agent is a person; services and integrations are no one', () => {
    const service = normalizePagerDutyWebhook(webhook('incident.resolved', { agent: { id: 'PS1', type: 'service_reference', summary: 'Internal: Postgres fleet auto-remediation' } }), undefined, RECEIVED);
    const integration = normalizePagerDutyWebhook(webhook('incident.resolved', { agent: { id: 'PI1', type: 'generic_events_api_inbound_integration_reference', summary: 'Datadog' } }), undefined, RECEIVED);
    expect(typeof service !== 'string' && service.agentName).toBeNull();
    expect(typeof integration !== 'string' && integration.agentName).toBeNull();
  });

  it('keeps the merge target of an incident resolved by a merge, and nothing else of the resolve reason', () => {
    const merged = normalizePagerDutyWebhook(webhook('incident.resolved', { data: { status: 'resolved', resolve_reason: { type: 'merge_resolve_reason', incident: { id: 'PTARGET', type: 'incident_reference', summary: 'INTERNAL: pg-shared-3' } } } }), undefined, RECEIVED);
    expect(typeof merged !== 'string' && merged.incident.mergedInto).toBe('PTARGET');
    expect(JSON.stringify(merged)).not.toContain('INTERNAL');
    const plain = normalizePagerDutyWebhook(webhook('incident.resolved', { data: { resolve_reason: null } }), undefined, RECEIVED);
    expect(typeof plain !== 'string' && plain.incident.mergedInto).toBeUndefined();
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
    for (const type of ['incident.responder.added', 'incident.conference_bridge.updated', 'incident.workflow.started']) {
      expect(normalizePagerDutyWebhook(webhook(type), undefined, RECEIVED)).toBe('unhandled event type');
    }
    const emptyUpdate = { event: { id: 'E1', event_type: 'incident.status_update_published', resource_type: 'incident', occurred_at: '2026-04-01T02:17:41Z', agent: null, data: { incident: { id: 'Q1' }, message: '  ' } } };
    expect(normalizePagerDutyWebhook(emptyUpdate, undefined, RECEIVED)).toBe('empty status update');
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

describe('real PagerDuty webhook captures (test/fixtures/pagerduty)', () => {
  const captures = fixturesIn('pagerduty', /^incident\..+\.json$/).map((file) => file.slice('pagerduty/'.length));
  const read = (file: string) => fixture<{ event: Record<string, unknown> }>(`pagerduty/${file}`);

  it('covers every handled incident type', () => {
    const types = captures.map((file) => read(file).event.event_type);
    for (const type of PAGERDUTY_HANDLED_EVENT_TYPES) expect(types).toContain(type);
  });

  it.each(captures)('%s normalizes as its type demands, with its nulls, and validates against the contract', (file) => {
    const body = read(file);
    const type = String(body.event.event_type);
    const event = normalizePagerDutyWebhook(body, 'WH-capture', RECEIVED);
    if (!(PAGERDUTY_HANDLED_EVENT_TYPES as readonly string[]).includes(type)) {
      // Notes, responders, conference bridges, workflows: internal, answered 2xx.
      expect(event).toBe('unhandled event type');
      return;
    }
    if (typeof event === 'string') throw new Error(`ignored: ${event}`);
    const statusUpdate = type === 'incident.status_update_published';
    // A note-type event names its incident by reference in data.incident; its own data is the note.
    const note = body.event.data as Record<string, unknown>;
    const data = statusUpdate ? (note.incident as Record<string, unknown>) : note;
    // Of a status update, its message is all that is kept (no incident summary, no note id).
    if (statusUpdate) {
      expect(event.statusUpdate).toBe(note.message);
      expect(JSON.stringify(event)).not.toContain(String(note.id));
      expect(JSON.stringify(event)).not.toContain(String(data.summary));
    } else expect(event.statusUpdate).toBeUndefined();
    // Both lengths of incident id PagerDuty uses (7-character P… and 14-character Q…) pass through.
    expect(event.incident.id).toBe(data.id);
    expect(parsePagerDutyQueueEvent(JSON.stringify(event))).toEqual(event);
    const agent = body.event.agent as { type?: string; summary?: string } | null;
    expect(event.agentName).toBe(agent?.type === 'user_reference' ? agent.summary : null);
    // The provider's own words and places never survive normalization.
    const serialized = JSON.stringify(event);
    if (typeof data.title === 'string') expect(serialized).not.toContain(data.title);
    expect(serialized).not.toMatch(/pagerduty\.com/);
  });
});
