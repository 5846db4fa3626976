/**
 * What `npm run package` built, read from the template it wrote: the lines it ends with, and the
 * deploy command to run next with the same choices.
 */
type Resource = { Type: string; Properties?: Record<string, unknown> };

const nameOf = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

export function packageSummary(template: { Resources?: Record<string, Resource> }, options: { stage: string; region?: string; params: readonly string[]; dir: string }): string[] {
  const resources = Object.entries(template.Resources ?? {});
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const functions = ofType('AWS::Lambda::Function').map(([, r]) => {
    const reserved = r.Properties?.ReservedConcurrentExecutions;
    return `${nameOf(r.Properties?.FunctionName)}${reserved === undefined ? '' : ` (reserved concurrency ${String(reserved)})`}`;
  });
  const queues = ofType('AWS::SQS::Queue').map(([, r]) => nameOf(r.Properties?.QueueName));
  const tables = ofType('AWS::DynamoDB::Table').map(([, r]) => nameOf(r.Properties?.TableName));
  const alarms = ofType('AWS::CloudWatch::Alarm');
  const topics = ofType('AWS::SNS::Topic').map(([id, r]) => {
    const inline = ((r.Properties?.Subscription as { Endpoint?: unknown }[] | undefined) ?? []).map((s) => nameOf(s.Endpoint));
    const separate = ofType('AWS::SNS::Subscription').filter(([, s]) => JSON.stringify(s.Properties?.TopicArn ?? '').includes(id)).map(([, s]) => nameOf(s.Properties?.Endpoint));
    const mails = [...inline, ...separate];
    return mails.length ? `a new SNS topic (${id}) mailing ${mails.join(', ')}` : `a new SNS topic (${id})`;
  });
  const external = new Set<string>();
  for (const [, alarm] of alarms) for (const action of (alarm.Properties?.AlarmActions as unknown[] | undefined) ?? []) if (typeof action === 'string') external.add(action);
  const notify = [...topics, ...[...external].map((arn) => `the topic ${arn}`)];
  const region = options.region ? ` --region ${options.region}` : '';
  return [
    `Packaged stage ${options.stage} into ${options.dir}:`,
    `  ${functions.length} functions: ${functions.join(', ')}`,
    `  ${queues.length} queues: ${queues.join(', ')}`,
    `  table: ${tables.join(', ') || 'none'}`,
    `  ${alarms.length} alarms, notifying ${notify.length ? notify.join(' and ') : 'nobody (no alarmEmail or alarmTopicArn)'}`,
    `Next: npx osls deploy --stage ${options.stage}${region}${options.params.map((p) => ` --param="${p}"`).join('')}   (docs/deploy.md, step 3)`,
  ];
}
