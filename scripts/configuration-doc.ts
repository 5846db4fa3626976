import { SETTINGS, type SettingName } from '../lib/runtime/settings';
import { SETTING_DOCS, settingNames, type Group, type Reader, type SettingDoc } from '../lib/runtime/setting-docs';

/** Where the document lives, from the repository's root. */
export const CONFIGURATION_DOC = 'docs/configuration.md';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function defaultOf(name: SettingName): string {
  const setting = SETTINGS[name];
  const { defaultNote } = SETTING_DOCS[name] as SettingDoc;
  if (defaultNote) return defaultNote;
  return setting.default === undefined ? '' : `\`${String(setting.default)}\``;
}

function readers(readBy: readonly Reader[]): string {
  return readBy.map((reader) => (reader === 'commands' ? 'the helper commands' : reader === 'npm start' ? '`npm start`' : reader)).join(', ');
}

function table(group: Group, withValues: boolean): string {
  const rows = settingNames(group).map((name) => {
    const setting = SETTINGS[name];
    const values = withValues ? ` ${cell(defaultOf(name))} | ${cell(setting.parser.allowed)} |` : '';
    return `| \`${name}\` |${values} ${cell(SETTING_DOCS[name].doc)} | ${readers(SETTING_DOCS[name].readBy)} |`;
  });
  const head = withValues ? '| variable | default | allowed | meaning | read by |\n|---|---|---|---|---|' : '| variable | meaning | read by |\n|---|---|---|';
  return `${head}\n${rows.join('\n')}`;
}

/** docs/configuration.md, whole: written by `npm run docs:config` from the tables in lib/runtime/settings.ts and setting-docs.ts. */
export function renderConfigurationDoc(): string {
  return `# Configuration

<!-- Written by \`npm run docs:config\` from lib/runtime/settings.ts: edit the table there, then run it. -->

pd-router's functions, \`npm start\` and the helper commands read their settings from environment
variables. Every variable, its default, the values it takes and who reads it comes from one table,
in \`lib/runtime/settings.ts\`. A value outside what a variable allows is refused in one
line naming the variable and what it must be, for example
\`environment variable PAGER_DUTY_SEVERITY must be one of critical, error, warning, info, not "critcal"\`:
\`npm start\` checks every setting before it starts, and a function refuses to start with one.
Blank is the same as unset.

## Settings

${table('setting', true)}

The API URLs accept plain \`http://127.0.0.1:PORT\` values: the tests and the sandbox point them at
local stand-ins.

In AWS, \`serverless.yml\` decides what the functions get. Seven settings are deploy parameters
(\`--param\`, see [deploy.md](deploy.md#steps), step 3): \`logLevel\`, \`slackCommand\`,
\`supportContact\`, \`showResponderNames\`, \`slackAppId\` (\`SLACK_APP_ID\`), \`reconcileEverySeconds\`,
\`noIncidentAfterSeconds\`. The others keep their defaults unless you add them to
\`provider.environment\` in \`serverless.yml\` (or to one function's \`environment\`) and deploy again.

## Keys

The five keys live in the Secrets Manager secret in AWS (\`npm run secrets:put\` writes them;
[deploy.md](deploy.md#where-each-slack-and-pagerduty-value-comes-from) says where each comes from).
Without \`SECRETS_MANAGER_SECRET_ID\` they are read from the environment, as in local runs. Each
function takes only the keys it needs; with split secrets it can read no others
([operating.md](operating.md#split-secrets-recommended-for-production)).

${table('secret', false)}

## Set by the deploy

The deploy and the local stack set these; nobody sets them by hand.

${table('deploy', false)}

## Local runs

${table('local', true)}

The helper commands check \`PORT\` and \`PD_ROUTER_URL\` themselves: there \`PORT\` is the port of a
running \`npm start\` (1 to 65535), and \`PD_ROUTER_URL\` must be an http(s) URL.

## The AWS SDK's own variables

\`provider.environment\` in \`serverless.yml\` also sets the AWS SDK's own settings
(\`AWS_RETRY_MODE\`, \`AWS_MAX_ATTEMPTS\`, \`AWS_USE_FIPS_ENDPOINT\`, …) to the SDK's defaults. The SDK
would otherwise look for each one in \`~/.aws/config\` on every cold start, a file Lambda functions do
not have. To use FIPS endpoints, say, change the value there. \`AWS_IGNORE_CONFIGURED_ENDPOINT_URLS\`
is \`true\`: the SDK looks up no endpoint URL itself, and pd-router hands its three clients
\`AWS_ENDPOINT_URL_SQS\`, \`AWS_ENDPOINT_URL_DYNAMODB\` and \`AWS_ENDPOINT_URL_SECRETS_MANAGER\` (or
\`AWS_ENDPOINT_URL\`) when they are set, as the local stack and the benchmark do.

## A new setting

Add its row to \`SETTINGS\` in \`lib/runtime/settings.ts\` (its parser and default) and to
\`SETTING_DOCS\` in \`lib/runtime/setting-docs.ts\` (its group, its readers and what it means; kept
apart so the functions' bundles leave them out), read
it with \`readSetting\` in the loader of each function that reads it (\`lib/runtime/config.ts\`),
and run \`npm run docs:config\`. \`test/configuration-doc.test.ts\` fails
while this document differs from the table, and while a function reads a setting its row does not
name, or the other way round.
`;
}
