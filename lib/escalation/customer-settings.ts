import type { CustomerRecord, CustomerSeverity } from '../store/customer-records';

/** The deployment's settings, which a customer's own settings override. */
export interface DeploymentDefaults {
  severity: CustomerSeverity;
  contact: string;
  showResponderNames: boolean;
}

/** What an escalation of one customer uses: the customer's own settings where it has them, the deployment's otherwise. */
export interface CustomerSettings extends DeploymentDefaults {
  pagesPerHour: number;
  confirm: boolean;
  /** Paging uses the customer's own routing key (read apart, by the one role allowed to: CustomerRecords.routingKey). */
  ownRoutingKey: boolean;
}

/**
 * The one place a customer's settings meet the deployment's: every worker path that pages, tells a
 * customer whom to contact, or names a responder reads them from here.
 */
export function settingsFor(customer: Pick<CustomerRecord, 'severity' | 'contact' | 'showResponderNames' | 'pagesPerHour' | 'confirm' | 'routingKeyMask'>, defaults: DeploymentDefaults): CustomerSettings {
  return {
    severity: customer.severity ?? defaults.severity,
    contact: customer.contact ?? defaults.contact,
    showResponderNames: customer.showResponderNames ?? defaults.showResponderNames,
    pagesPerHour: customer.pagesPerHour,
    confirm: customer.confirm,
    ownRoutingKey: customer.routingKeyMask !== undefined,
  };
}
