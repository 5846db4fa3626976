import { InvalidInputError } from '../errors';

const UNIT_MINUTES: Record<string, number> = { m: 1, h: 60, d: 1440 };

/**
 * A duration a person types (`15m`, `4h`, `1h30m`, `2d`) in whole minutes.
 * @throws InvalidInputError naming `what` when it is not one
 */
export function parseMinutes(text: string, what: string): number {
  const trimmed = text.trim().toLowerCase();
  if (!/^(\d+[mhd])+$/.test(trimmed)) throw new InvalidInputError(`${what} is a duration such as 15m, 4h, 1h30m or 2d, not "${text.slice(0, 20)}"`);
  let minutes = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([mhd])/g)) minutes += Number(amount) * UNIT_MINUTES[unit!]!;
  if (minutes < 1) throw new InvalidInputError(`${what} is at least one minute`);
  return minutes;
}

/** Minutes as a person reads them back: `15m`, `4h`, `1h30m`, `2d`. */
export function formatMinutes(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  return [days ? `${days}d` : '', hours ? `${hours}h` : '', rest || minutes === 0 ? `${rest}m` : ''].join('');
}
