/**
 * Only ownership binds a link to an incident, held by the compiler: `npm run typecheck` compiles
 * this file (it is never run). The workers' parts carry the links without the binding; the
 * binding is a port the composition root gives to ownership alone.
 */
import type { WorkerParts } from '../../functions/shared/worker-runtime';
import type { ReconcilerDeps } from '../../functions/reconciler/reconciler';
import type { Logger } from '../../lib/runtime/log';

export async function whoMayBind(parts: WorkerParts, reconciler: ReconcilerDeps, dedupKey: string, logger: Logger): Promise<void> {
  // Reading and the store's other steps are everyone's.
  await parts.links.get(dedupKey);
  // Which incident holds an escalation is ownership's to find, from evidence.
  await parts.ownership.heldBy({ id: 'Q0INCIDENT' }, logger);
  // @ts-expect-error: a worker's links cannot bind; only ownership is given the binding
  await parts.links.bind(dedupKey, 'Q0INCIDENT', 'own-key');
  // @ts-expect-error: the reconciler's links cannot bind either
  await reconciler.links.bind(dedupKey, 'Q0INCIDENT', 'merge', 'Q0MERGED');
}
