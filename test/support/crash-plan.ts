/**
 * A worker crash schedule: `plan[step]` lists which arrivals at that step (1-based) throw, as a
 * crash right after the step would. Each throw fails one attempt of one message, so a plan with
 * fewer throws than maxReceiveCount can never push a message into the DLQ by itself.
 */
export function crashPlan(plan: Record<string, readonly number[]>) {
  const arrivals = new Map<string, number>();
  const crashes: string[] = [];
  return {
    crashes,
    hook(step: string): void {
      const n = (arrivals.get(step) ?? 0) + 1;
      arrivals.set(step, n);
      if (plan[step]?.includes(n)) {
        crashes.push(`${step}#${n}`);
        throw new Error(`injected crash after ${step}`);
      }
    },
  };
}
