import type { LocalStack } from '../stack';
import { CustomerExistsError, type NewCustomer } from '../../lib/store/customers';

const registered = new WeakMap<LocalStack, Set<string>>();

/**
 * Register a channel as a customer, once per stack: only registered channels may page. Tests
 * that are not about the page budget give it room (1000 pages an hour) so they page every time.
 */
export async function ensureCustomer(stack: LocalStack, channel: string, settings: Partial<Omit<NewCustomer, 'channel'>> = {}): Promise<void> {
  const known = registered.get(stack) ?? new Set<string>();
  registered.set(stack, known);
  if (known.has(channel)) return;
  await stack.customers.add({ channel, name: `Customer ${channel}`, pagesPerHour: 1000, ...settings }).catch((error: unknown) => {
    if (!(error instanceof CustomerExistsError)) throw error;
  });
  known.add(channel);
}
