import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageService } from '../deploy-package';
import { LAYOUT, queueNames, tableName, type QueueName } from '../../lib/layout/layout';
import { LOCAL_ARNS, queueArn, tableArn, type LocalArns, type PartitionKeyOf } from './aws-requests';
import { assertEvaluable, type PolicyStatement } from './policy';

/**
 * The roles the deploy gives each function, read from the CloudFormation template that
 * `osls package` generates from serverless.yml (the same generator and default params as
 * `sls deploy --stage dev`), with the stage's names mapped to the local stack's queues and table.
 */

const ROOT = path.join(__dirname, '..', '..');
/** The stage the template is generated for; its physical names are mapped to the local stage's. */
export const TEMPLATE_STAGE = 'dev';
/** Everything the template's roles are generated from; a change to any of them regenerates it. */
const GENERATOR_INPUTS = ['serverless.yml', 'deploy/cloudformation.js', 'lib/layout/layout.json', 'lib/layout/metrics.json', 'deploy/serverless-build-key.js', 'node_modules/osls/package.json'];
/** A template to use instead of the generated one (a mutated copy, another stage's or params' output). */
export const TEMPLATE_OVERRIDE_ENV = 'PD_ROUTER_DEPLOY_TEMPLATE';

export const FUNCTIONS = ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'pagerduty-worker', 'reconciler'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
export interface Template {
  Resources: Record<string, Resource>;
}

export interface FunctionRole {
  /** The role's logical id in the template, as IAM's messages name the assumed role. */
  role: string;
  statements: PolicyStatement[];
}

function cacheFile(): string {
  const hash = createHash('sha256');
  for (const file of GENERATOR_INPUTS) hash.update(file).update(readFileSync(path.join(ROOT, file)));
  return path.join(ROOT, 'node_modules', '.cache', 'pd-router', `deploy-template-${hash.digest('hex').slice(0, 16)}.json`);
}

async function generate(target: string): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pd-router-iam-'));
  try {
    const template = readFileSync(await packageService({ stage: TEMPLATE_STAGE, region: LOCAL_ARNS.region, outDir: dir }), 'utf8');
    mkdirSync(path.dirname(target), { recursive: true });
    // Written whole under a temporary name: concurrent generators (jest workers, two stacks) never read half a file.
    const partial = `${target}.${process.pid}.${Date.now()}`;
    writeFileSync(partial, template);
    renameSync(partial, target);
  } catch (error) {
    throw new Error(`could not generate the deploy's template for the local IAM check: ${(error as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The deploy's template: the override's file when set, else the cached output of `osls package`
 * for the current generator inputs (about six seconds to make, once per change of those inputs).
 */
export async function loadDeployTemplate(env: NodeJS.ProcessEnv = process.env): Promise<Template> {
  const override = env[TEMPLATE_OVERRIDE_ENV]?.trim();
  const file = override || cacheFile();
  if (!override && !existsSync(file)) await generate(file);
  return JSON.parse(readFileSync(file, 'utf8')) as Template;
}

/** Physical names of the template's stage → the local stage's, for names spelled out in ARNs. */
function nameMap(localStage: string): [string, string][] {
  const pairs: [string, string][] = [[tableName(TEMPLATE_STAGE), tableName(localStage)]];
  for (const queue of Object.keys(LAYOUT.queues) as QueueName[]) {
    const from = queueNames(TEMPLATE_STAGE, queue);
    const to = queueNames(localStage, queue);
    pairs.push([from.queue, to.queue], [from.dlq, to.dlq]);
  }
  return pairs;
}

/** The ARN each logical id of the layout stands for, locally. */
function localArnsByLogicalId(localStage: string, arns: LocalArns): Record<string, string> {
  const out: Record<string, string> = { [LAYOUT.table.logicalId]: tableArn(arns, tableName(localStage)) };
  for (const queue of Object.keys(LAYOUT.queues) as QueueName[]) {
    const names = queueNames(localStage, queue);
    out[LAYOUT.queues[queue].logicalId] = queueArn(arns, names.queue);
    out[LAYOUT.queues[queue].dlqLogicalId] = queueArn(arns, names.dlq);
  }
  return out;
}

/**
 * CloudFormation's intrinsic functions as they appear in policy documents. What cannot be known
 * locally (another resource's attribute, an import) resolves to a value that matches no request.
 */
function resolver(localStage: string, arns: LocalArns) {
  const byId = localArnsByLogicalId(localStage, arns);
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': arns.region, 'AWS::AccountId': arns.account, 'AWS::URLSuffix': 'amazonaws.com' };
  const unknown = (what: string) => `unresolvable:${what}`;
  const attribute = (id: string, attr: string) => (attr === 'Arn' && byId[id]) || unknown(`${id}.${attr}`);
  const mapNames = (value: string) => nameMap(localStage).reduce((text, [from, to]) => text.split(from).join(to), value);
  const resolve = (value: unknown): unknown => {
    if (typeof value === 'string') return mapNames(value);
    if (Array.isArray(value)) return value.map(resolve);
    if (!value || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    if (entries.length !== 1) return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
    const [fn, arg] = entries[0]!;
    switch (fn) {
      case 'Ref':
        return pseudo[arg as string] ?? unknown(`Ref ${String(arg)}`);
      case 'Fn::GetAtt': {
        const [id, attr] = typeof arg === 'string' ? (arg.split('.') as [string, string]) : (arg as [string, string]);
        return attribute(id, attr);
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolve(parts) as unknown[]).map(String).join(separator);
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        return mapNames(
          text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
            if (name in vars) return String(resolve(vars[name]));
            if (pseudo[name]) return pseudo[name];
            const [id, attr] = name.split('.');
            return attr ? attribute(id!, attr) : unknown(`Ref ${id}`);
          }),
        );
      }
      default:
        return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
    }
  };
  return resolve;
}

/** Each function's role, its inline policies resolved for the local stack. */
export function functionRoles(template: Template, localStage: string, arns: LocalArns = LOCAL_ARNS): Record<FunctionName, FunctionRole> {
  const resolve = resolver(localStage, arns);
  const lambdas = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  const out = {} as Record<FunctionName, FunctionRole>;
  for (const fn of FUNCTIONS) {
    const lambda = lambdas.find((r) => String(r.Properties?.FunctionName ?? '').endsWith(`-${fn}`));
    if (!lambda) throw new Error(`the deploy's template has no function ${fn}`);
    const roleRef = lambda.Properties!.Role as { 'Fn::GetAtt'?: [string, string] };
    const roleId = roleRef['Fn::GetAtt']?.[0];
    const role = roleId ? template.Resources[roleId] : undefined;
    if (!roleId || role?.Type !== 'AWS::IAM::Role') throw new Error(`${fn}'s role is not an AWS::IAM::Role of the deploy's template`);
    if (((role.Properties?.ManagedPolicyArns as unknown[]) ?? []).length) throw new Error(`${roleId} attaches managed policies, which the local IAM check cannot read`);
    const policies = (role.Properties?.Policies as { PolicyDocument: { Statement: PolicyStatement[] } }[]) ?? [];
    const statements = policies.flatMap((p) => [resolve(p.PolicyDocument.Statement) as PolicyStatement | PolicyStatement[]].flat());
    // Policies attached to the role by other resources of the stack count as much as inline ones.
    for (const other of Object.values(template.Resources)) {
      if (other.Type !== 'AWS::IAM::Policy' && other.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const roles = (other.Properties?.Roles as unknown[]) ?? [];
      if (roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }))) {
        statements.push(...[resolve((other.Properties!.PolicyDocument as { Statement: unknown }).Statement) as PolicyStatement | PolicyStatement[]].flat());
      }
    }
    assertEvaluable(statements, roleId);
    out[fn] = { role: roleId, statements };
  }
  return out;
}

/** The Secrets Manager secret each function reads (its SECRETS_MANAGER_SECRET_ID in the template), by function. */
export function deployedSecretIds(template: Template): Record<FunctionName, string> {
  const lambdas = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  const out = {} as Record<FunctionName, string>;
  for (const fn of FUNCTIONS) {
    const lambda = lambdas.find((r) => String(r.Properties?.FunctionName ?? '').endsWith(`-${fn}`));
    const id = (lambda?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.SECRETS_MANAGER_SECRET_ID;
    if (typeof id !== 'string' || !id) throw new Error(`the deploy's template gives ${fn} no SECRETS_MANAGER_SECRET_ID a local run can read (${JSON.stringify(id)})`);
    out[fn] = id;
  }
  return out;
}

/** The table's key schema as layout.json defines it, for the leading keys of each request. */
export function layoutPartitionKeyOf(localStage: string): PartitionKeyOf {
  const indexes = [LAYOUT.table.customerIndex, LAYOUT.table.openLinkIndex, LAYOUT.table.historyIndex];
  return (table, index) => {
    if (table !== tableName(localStage)) return undefined;
    return index === undefined ? LAYOUT.table.partitionKey : indexes.find((i) => i.name === index)?.partitionKey;
  };
}

/** The stack's report policy (ReportReadPolicy), resolved for the local stack: what `npm run report -- --stage` may do. */
export function reportPolicy(template: Template, localStage: string, arns: LocalArns = LOCAL_ARNS): PolicyStatement[] {
  const policy = template.Resources.ReportReadPolicy;
  if (policy?.Type !== 'AWS::IAM::ManagedPolicy') throw new Error('the deploy\'s template has no ReportReadPolicy');
  const statements = [resolver(localStage, arns)((policy.Properties!.PolicyDocument as { Statement: unknown }).Statement) as PolicyStatement | PolicyStatement[]].flat();
  assertEvaluable(statements, 'ReportReadPolicy');
  return statements;
}
