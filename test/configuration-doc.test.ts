import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createPagerDutyIngressHandler } from '../functions/pagerduty-ingress/wiring';
import { createPagerDutyWorkerHandler } from '../functions/pagerduty-worker/wiring';
import { createReconcilerHandler } from '../functions/reconciler/wiring';
import { createSlackIngressHandler } from '../functions/slack-ingress/wiring';
import { createSlackWorkerHandler } from '../functions/slack-worker/wiring';
import { SETTINGS, type Env, type SettingName } from '../lib/runtime/settings';
import { FUNCTION_NAMES, SETTING_DOCS, type FunctionName } from '../lib/runtime/setting-docs';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../scripts/configuration-doc';

const ROOT = path.join(__dirname, '..');

describe('docs/configuration.md', () => {
  it('is what `npm run docs:config` writes from the settings table', () => {
    expect(readFileSync(path.join(ROOT, CONFIGURATION_DOC), 'utf8')).toBe(renderConfigurationDoc());
  });

  it('names every setting of the table, with its default and allowed values', () => {
    const doc = renderConfigurationDoc();
    for (const name of Object.keys(SETTINGS) as SettingName[]) expect(doc).toContain(`| \`${name}\` |`);
    expect(doc).toContain('| `PAGER_DUTY_SEVERITY` | `critical` | one of critical, error, warning, info |');
    expect(doc).toContain('| `LOG_LEVEL` | `info` (`warn` under `npm start`) | one of debug, info, warn, error, silent |');
  });
});

describe("the table's readers are the functions that read each setting", () => {
  /** What each function builds at cold start: everything it reads from the environment but its keys, which come per invocation. */
  const BUILD: Record<FunctionName, (env: Env) => unknown> = {
    'slack-ingress': createSlackIngressHandler,
    'pagerduty-ingress': createPagerDutyIngressHandler,
    'slack-worker': (env) => createSlackWorkerHandler(env),
    'pagerduty-worker': (env) => createPagerDutyWorkerHandler(env),
    reconciler: (env) => createReconcilerHandler(env),
  };
  const DEPLOYED: Env = {
    SLACK_EVENTS_QUEUE_URL: 'http://127.0.0.1:1/slack',
    SLACK_EVENTS_DLQ_URL: 'http://127.0.0.1:1/slack-dlq',
    PAGERDUTY_EVENTS_QUEUE_URL: 'http://127.0.0.1:1/pagerduty',
    PAGERDUTY_EVENTS_DLQ_URL: 'http://127.0.0.1:1/pagerduty-dlq',
    TABLE_NAME: 'pd-router-test',
    AWS_REGION: 'eu-west-1',
  };
  /** The keys are read by the secrets middleware on each invocation, not when the function is built. */
  const KEYS = (Object.keys(SETTINGS) as SettingName[]).filter((name) => SETTING_DOCS[name].group === 'secret' && name !== 'SECRETS_MANAGER_SECRET_ID');

  function readsOf(build: (env: Env) => unknown): Set<string> {
    const read = new Set<string>();
    const env = new Proxy({ ...DEPLOYED }, {
      get: (target, name) => {
        if (typeof name === 'string') read.add(name);
        return target[name as string];
      },
    });
    build(env);
    return read;
  }

  it.each([...FUNCTION_NAMES])('%s', (fn) => {
    const read = readsOf(BUILD[fn]);
    const named = (Object.keys(SETTINGS) as SettingName[]).filter((name) => !KEYS.includes(name));
    expect({ fn, reads: named.filter((name) => read.has(name)) }).toEqual({ fn, reads: named.filter((name) => (SETTING_DOCS[name].readBy as readonly string[]).includes(fn)) });
  });
});
