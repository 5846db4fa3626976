/**
 * AWS's own checks of a CloudFormation template, offline: cfn-validate (AWS's validator, its
 * schemas and rules bundled), the resource specification the CDK is generated from
 * (@aws-cdk/aws-service-spec), and cfn-guard with the Control Tower rules that
 * @cdklabs/cdk-validator-cfnguard ships with the guard binary. All three are dev dependencies:
 * nothing is fetched when they run. docs/deploy-checks.md says what each checks and which guard
 * rules are accepted as not applicable, and why.
 */
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { PropertyType, SpecDatabase } from '@aws-cdk/service-spec-types';
import { RegoEngine, TemplateFile } from '@aws/cloudformation-validate';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// CloudFormation is untyped JSON.
type Json = any;
export interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, Json>; [key: string]: Json }>;
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, Json>;
}

// ---------------------------------------------------------------------------------------------
// cfn-validate

export interface Finding {
  severity: string;
  rule: string;
  resource: string;
  path: string;
  message: string;
}

/** One engine for every template: building it loads the bundled schemas and rules (~3 s). */
export class CfnValidate {
  private readonly engine = new RegoEngine();

  /** Every finding at `severity` or above, as one line each. */
  findings(templatePath: string, severity: 'WARN' | 'ERROR' = 'ERROR'): Finding[] {
    const report = this.engine.validateStandard(new TemplateFile(templatePath), { severityLevel: severity });
    return report.diagnostics.map((d) => ({ severity: d.severity, rule: d.ruleId, resource: d.entity?.logicalId ?? '', path: d.propertyPath ?? '', message: d.message }));
  }

  free(): void {
    this.engine.free();
  }
}

// ---------------------------------------------------------------------------------------------
// The resource specification

const RESOURCE_KEYS = new Set(['Type', 'Properties', 'DependsOn', 'DeletionPolicy', 'UpdateReplacePolicy', 'Condition', 'Metadata', 'CreationPolicy', 'UpdatePolicy']);
const PSEUDO_PARAMETERS = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);

/** `{ Ref: … }`, `{ 'Fn::…': … }`: a value only CloudFormation can work out. */
function isIntrinsic(value: Json): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

/**
 * Each resource's type, property (at every depth) and required property against the CloudFormation
 * resource specification, and every Ref, Fn::GetAtt, Fn::Sub reference and DependsOn against the
 * template's resources and the target type's attributes. Returns one line per problem.
 */
export class ResourceSpec {
  private readonly db: SpecDatabase = loadAwsServiceSpecSync();

  problems(template: Template): string[] {
    const problems: string[] = [];
    const resources = template.Resources;
    const names = new Set([...Object.keys(resources), ...Object.keys(template.Parameters ?? {}), ...PSEUDO_PARAMETERS]);
    for (const [id, resource] of Object.entries(resources)) {
      const spec = this.resourceType(resource.Type);
      if (!spec) {
        problems.push(`${id}: unknown resource type ${resource.Type}`);
        continue;
      }
      for (const key of Object.keys(resource)) if (!RESOURCE_KEYS.has(key)) problems.push(`${id}: unknown resource attribute ${key}`);
      for (const dependency of [resource.DependsOn ?? []].flat() as string[]) if (!resources[dependency]) problems.push(`${id}: DependsOn ${dependency}, which the template does not have`);
      this.checkObject(`${id}.Properties`, resource.Properties ?? {}, spec.properties, problems);
    }
    const check = (where: string, value: Json): void => {
      if (Array.isArray(value)) return value.forEach((item, i) => check(`${where}[${i}]`, item));
      if (value === null || typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(value as Record<string, Json>)) {
        if (key === 'Ref' && typeof inner === 'string' && !names.has(inner)) problems.push(`${where}: Ref ${inner}, which the template does not have`);
        if (key === 'Fn::GetAtt') this.checkGetAtt(where, inner, template, problems);
        if (key === 'Fn::Sub') {
          const [text, variables] = typeof inner === 'string' ? [inner, {}] : [inner[0] as string, (inner[1] ?? {}) as Record<string, unknown>];
          for (const [, name] of text.matchAll(/\$\{(?!!)([^}]+)\}/g)) {
            if (name! in variables) continue;
            const dot = name!.indexOf('.');
            if (dot > 0 && !PSEUDO_PARAMETERS.has(name!)) this.checkGetAtt(where, [name!.slice(0, dot), name!.slice(dot + 1)], template, problems);
            else if (!names.has(name!)) problems.push(`${where}: Fn::Sub names \${${name}}, which the template does not have`);
          }
        }
        check(`${where}.${key}`, inner);
      }
    };
    check('Resources', resources);
    check('Outputs', template.Outputs ?? {});
    return problems;
  }

  private resourceType(type: string) {
    const found = this.db.lookup('resource', 'cloudFormationType', 'equals', type);
    return found.length === 1 ? found[0] : undefined;
  }

  private checkGetAtt(where: string, argument: Json, template: Template, problems: string[]): void {
    const [id, attribute] = typeof argument === 'string' ? [argument.slice(0, argument.indexOf('.')), argument.slice(argument.indexOf('.') + 1)] : (argument as [string, string]);
    const target = template.Resources[id];
    if (!target) return void problems.push(`${where}: Fn::GetAtt ${id}.${attribute}: the template has no ${id}`);
    const spec = this.resourceType(target.Type);
    if (spec && typeof attribute === 'string' && !(attribute in spec.attributes)) {
      problems.push(`${where}: Fn::GetAtt ${id}.${attribute}: ${target.Type} has no attribute ${attribute} (it has ${Object.keys(spec.attributes).sort().join(', ')})`);
    }
  }

  private checkObject(where: string, value: Json, properties: Record<string, { required?: boolean; type: PropertyType }>, problems: string[]): void {
    if (isIntrinsic(value)) return;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${where}: expected an object`);
    for (const [name, property] of Object.entries(properties)) if (property.required && !(name in value)) problems.push(`${where}: required property ${name} is missing`);
    for (const [name, inner] of Object.entries(value)) {
      const property = properties[name];
      if (!property) problems.push(`${where}: unknown property ${name} (known: ${Object.keys(properties).sort().join(', ')})`);
      else this.checkValue(`${where}.${name}`, inner, property.type, problems);
    }
  }

  private checkValue(where: string, value: Json, type: PropertyType, problems: string[]): void {
    if (isIntrinsic(value)) return;
    switch (type.type) {
      case 'ref':
        return this.checkObject(where, value, this.db.get('typeDefinition', type.reference.$ref as string).properties, problems);
      case 'array':
        if (!Array.isArray(value)) return void problems.push(`${where}: expected a list`);
        return value.forEach((item, i) => this.checkValue(`${where}[${i}]`, item, type.element, problems));
      case 'map':
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return void problems.push(`${where}: expected a map`);
        return Object.entries(value).forEach(([key, item]) => this.checkValue(`${where}.${key}`, item, type.element, problems));
      case 'union': {
        const attempts = type.types.map((member) => {
          const found: string[] = [];
          this.checkValue(where, value, member, found);
          return found;
        });
        if (attempts.every((found) => found.length)) problems.push(...attempts.sort((a, b) => a.length - b.length)[0]!);
        return;
      }
      case 'tag':
        return this.checkObject(where, value, { Key: { required: true, type: { type: 'string' } }, Value: { required: true, type: { type: 'string' } } }, problems);
      case 'json':
        return;
      case 'boolean':
        if (typeof value !== 'boolean' && value !== 'true' && value !== 'false') problems.push(`${where}: expected a boolean, not ${JSON.stringify(value)}`);
        return;
      case 'integer':
      case 'number':
        if (typeof value !== 'number' && !(typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))) problems.push(`${where}: expected a number, not ${JSON.stringify(value)}`);
        return;
      default:
        // string, date-time: CloudFormation takes scalars as strings.
        if (value !== null && typeof value === 'object') problems.push(`${where}: expected a ${type.type}, not an object or a list`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// cfn-guard with the Control Tower rules

interface GuardViolation {
  ruleName: string;
  description: string;
  violatingResources: { resourceLogicalId: string; templatePath: string }[];
}
interface GuardValidator {
  validate(context: { templatePaths: string[] }): { success: boolean; violations: GuardViolation[] };
}

const GUARD_PACKAGE = join(__dirname, '..', '..', 'node_modules', '@cdklabs', 'cdk-validator-cfnguard');

/** The guard binary the package ships for this machine (linux x86_64 here), as its plugin picks it. */
export function guardBinary(): string {
  const platform = process.platform === 'linux' ? 'ubuntu' : process.platform === 'darwin' ? 'macos' : process.platform;
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  return join(GUARD_PACKAGE, 'bin', platform, arch, 'cfn-guard');
}

export function guardVersion(): string {
  return execFileSync(guardBinary(), ['--version'], { encoding: 'utf8' }).trim();
}

export interface GuardFailure {
  rule: string;
  /** The control's id and title, e.g. `[CT.LAMBDA.PR.3]: Require an AWS Lambda function to be in …`. */
  control: string;
  resource: string;
  templatePath: string;
}

/** Every Control Tower rule a resource of these templates fails, one entry per rule and resource. */
export function guardFailures(templatePaths: string[]): GuardFailure[] {
  // The package's types import aws-cdk-lib (its peer, which pd-router does not use).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CfnGuardValidator } = require('@cdklabs/cdk-validator-cfnguard') as { CfnGuardValidator: new () => GuardValidator };
  const report = new CfnGuardValidator().validate({ templatePaths });
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      control: /^\[CT\.[^\]]+\][^\n]*/.exec(violation.description.trim())?.[0] ?? violation.description.trim().split('\n')[0]!,
      resource: resource.resourceLogicalId,
      templatePath: resource.templatePath,
    })),
  );
}

/** A guard rule accepted as not applicable, on the resources `applies` picks: docs/deploy-checks.md lists each with its reason. */
export interface Acceptance {
  rule: string;
  control: string;
  applies: (resourceId: string, template: Template, stage: string) => boolean;
}

const typeIs = (...types: string[]) => (id: string, template: Template) => types.includes(template.Resources[id]?.Type ?? '');

/** What osls creates for itself: its deployment bucket and that bucket's policy. */
const deploymentBucket = typeIs('AWS::S3::Bucket', 'AWS::S3::BucketPolicy');

export const ACCEPTED_GUARD_RULES: Acceptance[] = [
  { rule: 'api_gw_v2_authorization_type_configured_check', control: 'CT.APIGATEWAY.PR.5', applies: typeIs('AWS::ApiGatewayV2::Route') },
  { rule: 'lambda_inside_vpc_check', control: 'CT.LAMBDA.PR.3', applies: typeIs('AWS::Lambda::Function') },
  {
    rule: 'lambda_function_public_access_prohibited_check',
    control: 'CT.LAMBDA.PR.2',
    // Only the HTTP API's own permissions, whose SourceArn is the API's ARN built with Fn::Join.
    applies: (id, template) => {
      const properties = template.Resources[id]?.Properties ?? {};
      return template.Resources[id]?.Type === 'AWS::Lambda::Permission' && properties.Principal === 'apigateway.amazonaws.com' && JSON.stringify(properties.SourceArn ?? '').includes('{"Ref":"HttpApi"}');
    },
  },
  { rule: 'cloudwatch_log_group_encrypted_check', control: 'CT.CLOUDWATCH.PR.3', applies: typeIs('AWS::Logs::LogGroup') },
  // Production keeps its logs 365 days and passes; other stages keep them 30.
  { rule: 'cloudwatch_log_group_retention_period_check', control: 'CT.CLOUDWATCH.PR.2', applies: (id, template, stage) => stage !== 'prod' && typeIs('AWS::Logs::LogGroup')(id, template) },
  // Only where the stage has no alarm destination; production cannot be packaged without one.
  {
    rule: 'cloudwatch_alarm_action_check',
    control: 'CT.CLOUDWATCH.PR.1',
    applies: (id, template, stage) => stage !== 'prod' && typeIs('AWS::CloudWatch::Alarm')(id, template) && !template.Resources[id]!.Properties!.AlarmActions,
  },
  { rule: 'dynamodb_table_encrypted_kms_check', control: 'CT.DYNAMODB.PR.2', applies: typeIs('AWS::DynamoDB::Table') },
  { rule: 's3_bucket_default_encryption_kms_check', control: 'CT.S3.PR.10', applies: deploymentBucket },
  { rule: 's3_bucket_versioning_enabled_check', control: 'CT.S3.PR.11', applies: deploymentBucket },
  { rule: 's3_bucket_logging_enabled_check', control: 'CT.S3.PR.2', applies: deploymentBucket },
  { rule: 's3_event_notifications_enabled_check', control: 'CT.S3.PR.4', applies: deploymentBucket },
  { rule: 's3_lifecycle_policy_check', control: 'CT.S3.PR.6', applies: deploymentBucket },
  { rule: 's3_bucket_policy_ssl_requests_only_check', control: 'CT.S3.PR.8', applies: deploymentBucket },
  { rule: 's3_bucket_object_lock_enabled_check', control: 'CT.S3.PR.9', applies: deploymentBucket },
];

/** The guard failures no acceptance covers, as `rule on resource (stage)` lines. */
export function unacceptedGuardFailures(failures: GuardFailure[], stageOf: (templatePath: string) => { stage: string; template: Template }): string[] {
  return failures
    .filter((failure) => {
      const { stage, template } = stageOf(failure.templatePath);
      return !ACCEPTED_GUARD_RULES.some((acceptance) => acceptance.rule === failure.rule && acceptance.applies(failure.resource, template, stage));
    })
    .map((failure) => `${failure.rule} on ${failure.resource} (${stageOf(failure.templatePath).stage}): ${failure.control}`);
}
