import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Frames kept in a logged stack: enough to find the bug, short enough for one log line. */
const MAX_FRAMES = 12;

/** Source maps by bundle file, read on first use; null when the file has none. */
const maps = new Map<string, SourceMap | null>();

function mapFor(file: string): SourceMap | null {
  const bundle = file.startsWith('file://') ? fileURLToPath(file) : file;
  let map = maps.get(bundle);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')));
    } catch {
      map = null;
    }
    maps.set(bundle, map);
  }
  return map;
}

/**
 * An error's stack with each position in a bundle mapped back to the TypeScript it came from.
 *
 * The deployed functions run without `--enable-source-maps`, which reads and parses every
 * bundle's source map (about 1 MB) on each cold start to map stacks nobody may ever print. The
 * map is read here instead, once per container, the first time an error's stack is logged.
 */
export function mappedStack(error: Error): string | undefined {
  if (typeof error.stack !== 'string') return undefined;
  const lines = error.stack.split('\n');
  const frames = lines.slice(1, 1 + MAX_FRAMES).map((line) =>
    line.replace(/((?:file:\/\/)?\/[^():\s]+\.c?js):(\d+):(\d+)/, (whole, file: string, line: string, column: string) => {
      const entry = mapFor(file)?.findEntry(Number(line) - 1, Number(column) - 1);
      if (!entry || !('originalSource' in entry) || !entry.originalSource) return whole;
      return `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
    }),
  );
  return [lines[0], ...frames].join('\n');
}
