import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { SlackStandIn } from '../../local/stand-ins/slack';
import { startTestDynamo } from './dynamo';

/** What a worker's own tests run it against: the table on dynalite, and Slack and PagerDuty played by their stand-ins. */
export interface WorkerWorld extends Awaited<ReturnType<typeof startTestDynamo>> {
  slack: SlackStandIn;
  pagerDuty: PagerDutyStandIn;
}

export async function startWorkerWorld(options: { botToken: string; routingKey: string; restToken?: string }): Promise<WorkerWorld> {
  const table = await startTestDynamo();
  const slack = await new SlackStandIn({ botToken: options.botToken }).start();
  const pagerDuty = await new PagerDutyStandIn({ routingKey: options.routingKey, restToken: options.restToken ?? 'rest-token' }).start();
  return {
    ...table,
    slack,
    pagerDuty,
    stop: async () => {
      await Promise.all([slack.stop(), pagerDuty.stop()]);
      await table.stop();
    },
  };
}
