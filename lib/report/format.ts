/** How the report writes a duration, shared by the command and the sandbox console (which runs in a browser). */

/** Seconds as a person reads them: `45s`, `4m 05s`, `1h 20m`, `2d 3h`. */
export function formatSeconds(value: number | undefined): string {
  if (value === undefined) return '–';
  const s = Math.round(value);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
