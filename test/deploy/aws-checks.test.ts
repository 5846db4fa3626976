import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { packageService } from '../../local/deploy-package';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import guardPackage from '@cdklabs/cdk-validator-cfnguard/guard-version.json';
import { ACCEPTED_GUARD_RULES, CfnValidate, guardFailures, guardVersion, ResourceSpec, unacceptedGuardFailures, type Template } from './aws-checks';

/**
 * The templates `osls package` generates for a dev stage, production and the split-secrets
 * layout, through AWS's own checks, offline (docs/deploy-checks.md): cfn-validate, the CloudFormation
 * resource specification, and cfn-guard's Control Tower rules. Each check is also shown failing
 * on a template mutated the way a real mistake would.
 */

const ROOT = join(__dirname, '..', '..');
interface Packaged {
  stage: string;
  path: string;
  template: Template;
}

const STAGES: { stage: string; params: string[] }[] = [
  { stage: 'dev', params: [] },
  { stage: 'prod', params: ['alarmEmail=oncall@provider.example', 'secretId=arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-router/prod-AbCdEf'] },
  {
    stage: 'split',
    params: [
      'signingSecretId=pd-router/split/signing',
      'apiTokenSecretId=arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-router/split/api-tokens-XyZ123',
      'alarmTopicArn=arn:aws:sns:eu-west-1:123456789012:pd-router-alarms',
      // The table and its indexes pre-warmed: WarmThroughput checked by AWS's own schemas too.
      'tableWarmReadsPerSecond=15000',
      'tableWarmWritesPerSecond=14000',
    ],
  },
];

async function packageStack(work: string, stage: string, params: string[]): Promise<Packaged> {
  const path = await packageService({ stage, region: 'eu-west-1', params, outDir: join(work, stage) });
  return { stage, path, template: JSON.parse(readFileSync(path, 'utf8')) as Template };
}

const clone = (template: Template): Template => JSON.parse(JSON.stringify(template)) as Template;

describe("AWS's own checks of the generated deploy, offline", () => {
  let work: string;
  let packaged: Packaged[];
  let validate: CfnValidate;
  let spec: ResourceSpec;
  const mutations: Packaged[] = [];
  const stageOf = (path: string) => {
    const found = packaged.find((p) => p.path === path) ?? mutations.find((p) => p.path === path);
    if (!found) throw new Error(`guard named a template this test did not write: ${path}`);
    return found;
  };
  /** A mutated copy of a packaged template, written beside it. */
  function mutate(base: Packaged, name: string, change: (template: Template) => void): Packaged {
    const template = clone(base.template);
    change(template);
    const path = join(work, `${base.stage}-${name}.json`);
    writeFileSync(path, JSON.stringify(template, null, 2));
    const mutation = { stage: base.stage, path, template };
    mutations.push(mutation);
    return mutation;
  }
  const byStage = (stage: string) => packaged.find((p) => p.stage === stage)!;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pd-router-aws-checks-'));
    // Each packaging works on its own copy of the service: the three run side by side.
    packaged = await Promise.all(STAGES.map(({ stage, params }) => packageStack(work, stage, params)));
    validate = new CfnValidate();
    spec = new ResourceSpec();
  }, 240_000);

  afterAll(() => {
    validate?.free();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('cfn-validate (@aws/cloudformation-validate, its schemas and rules bundled)', () => {
    it('finds nothing at ERROR or FATAL in the dev, production and split-secrets templates', () => {
      for (const p of packaged) expect({ stage: p.stage, findings: validate.findings(p.path, 'ERROR') }).toEqual({ stage: p.stage, findings: [] });
    });

    it('reports a misspelled property, a missing required one and an attribute the target does not have', () => {
      const broken = mutate(byStage('prod'), 'validate', (t) => {
        t.Resources.SlackEventsQueue!.Properties!.VisibilityTimout = 360;
        delete t.Resources.IncidentLinksTable!.Properties!.KeySchema;
        t.Resources.SlackWorkerErrorsAlarm!.Properties!.Dimensions[0].Value = { 'Fn::GetAtt': ['SlackDashworkerLambdaFunction', 'Url'] };
      });
      const findings = validate.findings(broken.path, 'ERROR');
      expect(findings).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ resource: 'SlackEventsQueue', message: expect.stringContaining("'VisibilityTimout' was unexpected") }),
          expect.objectContaining({ resource: 'IncidentLinksTable', message: expect.stringContaining("'KeySchema' is a required property") }),
          expect.objectContaining({ resource: 'SlackWorkerErrorsAlarm', message: expect.stringContaining("'Url' is not one of") }),
        ]),
      );
      expect(findings.every((f) => ['ERROR', 'FATAL'].includes(f.severity))).toBe(true);
    });
  });

  describe('the CloudFormation resource specification (@aws-cdk/aws-service-spec)', () => {
    it("knows every resource type, property and attribute the templates use, the framework's resources included", () => {
      for (const p of packaged) expect({ stage: p.stage, problems: spec.problems(p.template) }).toEqual({ stage: p.stage, problems: [] });
      // The framework's own resources are among those checked.
      const types = new Set(packaged.flatMap((p) => Object.values(p.template.Resources).map((r) => r.Type)));
      for (const type of ['AWS::Lambda::Function', 'AWS::Logs::LogGroup', 'AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Stage', 'AWS::Events::Rule', 'AWS::Lambda::Permission', 'AWS::Lambda::EventSourceMapping', 'AWS::S3::Bucket']) {
        expect(types).toContain(type);
      }
    });

    it('reports a misspelled property at any depth, a missing required one, an unknown attribute and a dangling reference', () => {
      const broken = clone(byStage('dev').template);
      broken.Resources.SlackEventsQueue!.Properties!.VisibilityTimout = 360;
      const index = broken.Resources.IncidentLinksTable!.Properties!.GlobalSecondaryIndexes[0];
      index.Projection = { ProjectionTyp: index.Projection.ProjectionType };
      delete broken.Resources.IncidentLinksTable!.Properties!.KeySchema;
      broken.Resources.SlackWorkerErrorsAlarm!.Properties!.Dimensions[0].Value = { 'Fn::GetAtt': ['SlackEventsQueue', 'Url'] };
      broken.Resources.HttpApi5xxAlarm!.Properties!.Dimensions[0].Value = { Ref: 'HttpApy' };
      broken.Resources.Dashboard!.Properties!.DashboardBody = { 'Fn::Sub': '${HttpApi.ApiEndpoint} ${HttpApi.Endpoint}' };
      const problems = spec.problems(broken);
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^SlackEventsQueue\.Properties: unknown property VisibilityTimout/),
          expect.stringMatching(/^IncidentLinksTable\.Properties\.GlobalSecondaryIndexes\[0\]\.Projection: unknown property ProjectionTyp/),
          'IncidentLinksTable.Properties: required property KeySchema is missing',
          expect.stringMatching(/Fn::GetAtt SlackEventsQueue\.Url: AWS::SQS::Queue has no attribute Url \(it has Arn, QueueName, QueueUrl\)$/),
          expect.stringMatching(/: Ref HttpApy, which the template does not have$/),
          expect.stringMatching(/Fn::GetAtt HttpApi\.Endpoint: AWS::ApiGatewayV2::Api has no attribute Endpoint/),
        ]),
      );
      expect(problems.filter((line) => line.includes('HttpApi.ApiEndpoint'))).toEqual([]);
      expect(problems).toHaveLength(6);
    });
  });

  describe("cfn-guard with Control Tower's rules (@cdklabs/cdk-validator-cfnguard)", () => {
    it("runs the guard binary the package ships for this machine, the version it says it ships", () => {
      expect(guardVersion()).toBe(`cfn-guard ${guardPackage.version}`);
    });

    it('fails no rule beyond those docs/deploy-checks.md accepts as not applicable, and each accepted rule still fails somewhere', () => {
      const failures = guardFailures(packaged.map((p) => p.path));
      expect(unacceptedGuardFailures(failures, stageOf)).toEqual([]);
      const failing = new Set(failures.map((f) => f.rule));
      expect(ACCEPTED_GUARD_RULES.map((a) => a.rule).filter((rule) => !failing.has(rule))).toEqual([]);
      // Each acceptance names the control guard reports for its rule.
      for (const failure of failures) expect(failure.control).toContain(`[${ACCEPTED_GUARD_RULES.find((a) => a.rule === failure.rule)!.control}]`);
    });

    it('reports what an acceptance does not cover: an open Lambda permission, production logs kept 30 days, a silent production alarm, a public deployment bucket', () => {
      const prod = byStage('prod');
      const broken = mutate(prod, 'guard', (t) => {
        const permission = Object.entries(t.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Permission' && id.startsWith('Reconciler'))![1];
        delete permission.Properties!.SourceArn;
        t.Resources.ReconcilerLogGroup!.Properties!.RetentionInDays = 30;
        delete t.Resources.ReconcilerErrorsAlarm!.Properties!.AlarmActions;
        delete t.Resources.ServerlessDeploymentBucket!.Properties!.PublicAccessBlockConfiguration;
      });
      const reported = unacceptedGuardFailures(guardFailures([broken.path]), stageOf);
      expect(reported).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^lambda_function_public_access_prohibited_check on ReconcilerLambdaPermission\w+ \(prod\)/),
          expect.stringMatching(/^cloudwatch_log_group_retention_period_check on ReconcilerLogGroup \(prod\)/),
          expect.stringMatching(/^cloudwatch_alarm_action_check on ReconcilerErrorsAlarm \(prod\)/),
          expect.stringMatching(/^s3_bucket_level_public_access_prohibited_check on ServerlessDeploymentBucket \(prod\)/),
        ]),
      );
      expect(reported).toHaveLength(4);
    });

    it('docs/deploy-checks.md gives a reason for exactly the rules accepted', () => {
      const doc = readFileSync(join(ROOT, 'docs', 'deploy-checks.md'), 'utf8');
      const rows = [...doc.matchAll(/^\| `(\w+_check)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => ({ rule: m[1]!, control: m[2]!.trim(), scope: m[3]!.trim(), why: m[4]!.trim() }));
      expect(rows.map((r) => r.rule).sort()).toEqual(ACCEPTED_GUARD_RULES.map((a) => a.rule).sort());
      for (const row of rows) {
        expect(row.control).toBe(ACCEPTED_GUARD_RULES.find((a) => a.rule === row.rule)!.control);
        expect(row.why.length).toBeGreaterThan(20);
      }
    });
  });
});
