import type { IncidentState } from '../../lib/pagerduty/api';
import type { ResolvedPage } from '../../lib/pagerduty/open-incidents';
import { PermanentError, RateLimitedError } from '../../lib/errors';
import { createLogger } from '../../lib/runtime/log';
import { makeResolvedLookup } from './resolved-lookup';

const MINUTE = 60_000;
const T0 = Date.parse('2026-12-07T12:00:00Z');
const at = (minutesBeforeT0: number) => new Date(T0 - minutesBeforeT0 * MINUTE).toISOString();

function resolved(id: string, minutesBeforeT0: number, mergedInto?: string): IncidentState {
  return { id, status: 'resolved', assignees: [], resolvedAt: at(minutesBeforeT0), lastStatusChangeAt: at(minutesBeforeT0), ...(mergedInto ? { mergedInto } : {}) };
}

/** PagerDuty's listing of resolved incidents over `incidents` (most recently resolved first), `size` a page, counting the pages asked for. */
function listing(incidents: IncidentState[], size = 2) {
  const asked: number[] = [];
  const ordered = [...incidents].sort((a, b) => Date.parse(b.resolvedAt!) - Date.parse(a.resolvedAt!));
  const page = async (n: number): Promise<ResolvedPage> => {
    asked.push(n);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { incidents: ordered.slice(n * size, (n + 1) * size), more: (n + 1) * size < ordered.length };
  };
  return { asked, page };
}

function lookup(page: (n: number) => Promise<ResolvedPage>, known = new Map<string, IncidentState>()) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', sink: (line) => lines.push(line) });
  return { known, lines, find: makeResolvedLookup({ page, readTurn: async () => {}, known, logger }).find };
}

describe('the reconciler\'s lookup of resolved incidents', () => {
  // Six incidents, resolved 1 to 60 minutes ago; pages of two.
  const incidents = [resolved('P1', 1), resolved('P2', 2), resolved('P3', 10), resolved('P4', 20), resolved('P5', 40, 'P1'), resolved('P6', 60)];

  it('reads pages only as far as the link needs: one resolved since the link last saw it is found, and the rest are not read', async () => {
    const { asked, page } = listing(incidents);
    const { find, known } = lookup(page);
    await expect(find('P3', at(30))).resolves.toMatchObject({ id: 'P3', status: 'resolved' });
    expect(asked).toEqual([0, 1]);
    // Everything listed is known to the run's later links, but a merged one.
    expect([...known.keys()].sort()).toEqual(['P1', 'P2', 'P3', 'P4']);
  });

  it('stops once the listing reaches back past the link\'s time: an incident not resolved since then is not on a later page', async () => {
    const { asked, page } = listing(incidents);
    const { find } = lookup(page);
    // Seen open 14 minutes ago (19, less 5 for the clocks): pages 0 and 1 reach back past it, to 20; P9 is not among them.
    await expect(find('P9', at(14))).resolves.toBeUndefined();
    expect(asked).toEqual([0, 1]);
    // A link seen open longer ago needs the pages after; those already read are not read again.
    await expect(find('P6', at(90))).resolves.toMatchObject({ id: 'P6' });
    expect(asked).toEqual([0, 1, 2]);
  });

  it('gives an incident merged into another to be read by itself (its merge is followed there), without reading further', async () => {
    const { asked, page } = listing(incidents);
    const { find } = lookup(page);
    await expect(find('P5', at(600))).resolves.toBeUndefined();
    expect(asked).toEqual([0, 1, 2]);
    await expect(find('P5', at(600))).resolves.toBeUndefined();
    expect(asked).toEqual([0, 1, 2]);
  });

  it('reads each page once for links that ask side by side', async () => {
    const { asked, page } = listing(incidents);
    const { find } = lookup(page);
    const found = await Promise.all(['P1', 'P2', 'P3', 'P4', 'P6'].map((id) => find(id, at(600))));
    expect(found.map((i) => i?.id)).toEqual(['P1', 'P2', 'P3', 'P4', 'P6']);
    expect(asked).toEqual([0, 1, 2]);
  });

  it('a 429 goes to the link\'s caller, which waits and asks again; the page is read then', async () => {
    const { asked, page } = listing(incidents);
    let refuse = true;
    const { find } = lookup(async (n) => {
      if (refuse) {
        refuse = false;
        throw new RateLimitedError('pagerduty', 'PagerDuty resolved incident listing answered 429', undefined, 1);
      }
      return page(n);
    });
    await expect(find('P1', at(30))).rejects.toBeInstanceOf(RateLimitedError);
    await expect(find('P1', at(30))).resolves.toMatchObject({ id: 'P1' });
    expect(asked).toEqual([0]);
  });

  it('a listing PagerDuty refuses leaves every link to be read by itself, and is not asked again in the run', async () => {
    let calls = 0;
    const { find, lines } = lookup(async () => {
      calls++;
      throw new PermanentError('pagerduty_403', 'PagerDuty resolved incident listing answered 403');
    });
    await expect(find('P1', at(30))).resolves.toBeUndefined();
    await expect(find('P2', at(30))).resolves.toBeUndefined();
    expect(calls).toBe(1);
    expect(lines.join('\n')).toContain('could not list the resolved incidents');
  });

  it('a link whose time does not parse is read by itself, with no page read for it', async () => {
    const { asked, page } = listing(incidents);
    const { find } = lookup(page);
    await expect(find('P1', 'not a time')).resolves.toBeUndefined();
    expect(asked).toEqual([]);
  });
});
