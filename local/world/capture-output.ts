/** Capture everything written to stdout and stderr (log lines) until `restore()`. */
export function captureOutput(options: { passThrough?: boolean } = {}) {
  const lines: string[] = [];
  const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const wrap = (original: typeof process.stdout.write) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return options.passThrough ? (original as (...a: unknown[]) => boolean)(chunk, ...rest) : true;
    }) as typeof process.stdout.write;
  process.stdout.write = wrap(originals.out);
  process.stderr.write = wrap(originals.err);
  return {
    lines,
    /** Parsed JSON log lines (non-JSON output left out). */
    records(): Record<string, unknown>[] {
      return lines
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        });
    },
    restore() {
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
    },
  };
}
