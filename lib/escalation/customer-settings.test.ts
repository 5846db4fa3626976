import { settingsFor } from './customer-settings';

describe('a customer’s settings over the deployment’s', () => {
  const defaults = { severity: 'critical' as const, contact: 'support@provider.example', showResponderNames: true };
  const base = { pagesPerHour: 3, confirm: false };

  it('takes the deployment’s where the customer has none', () => {
    expect(settingsFor(base, defaults)).toEqual({ ...defaults, pagesPerHour: 3, confirm: false, ownRoutingKey: false });
  });

  it('takes the customer’s own where it has them, and only those', () => {
    expect(settingsFor({ ...base, severity: 'info', showResponderNames: false, pagesPerHour: 9, confirm: true, routingKeyMask: '…abcd' }, defaults)).toEqual({
      severity: 'info',
      contact: 'support@provider.example',
      showResponderNames: false,
      pagesPerHour: 9,
      confirm: true,
      ownRoutingKey: true,
    });
    expect(settingsFor({ ...base, contact: 'acme-desk@provider.example' }, defaults).contact).toBe('acme-desk@provider.example');
  });
});
