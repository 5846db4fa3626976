/**
 * IAM's identity-policy evaluation, for the policies the deploy's template gives each function:
 * an explicit Deny wins, otherwise some Allow must match both the action and the resource,
 * otherwise the call is denied. Actions match case-insensitively, resources case-sensitively,
 * both with IAM's `*` and `?` wildcards.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
}

/** What one AWS call needs: IAM authorizes each (action, resource) pair separately. */
export interface Requirement {
  action: string;
  resource: string;
  /** The request's values of the condition keys the service defines for it (`dynamodb:LeadingKeys`…). */
  context?: Record<string, string[]>;
}

/** The condition keys this evaluator can fill from a request; a policy naming any other is refused. */
export const KNOWN_CONDITION_KEYS = ['dynamodb:LeadingKeys', 'dynamodb:Attributes', 'dynamodb:Select', 'dynamodb:ReturnValues'];
const OPERATORS = ['StringEquals', 'StringNotEquals', 'StringLike', 'StringNotLike', 'Null'] as const;
type Operator = (typeof OPERATORS)[number];

export type Decision = { allowed: true } | { allowed: false; reason: 'explicit deny' | 'no allow'; statement?: string };

const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : [value].flat());

/** Compiled once per pattern: every AWS call of a run is checked against the same few policies. */
const compiled = new Map<string, RegExp>();

function wildcard(pattern: string, flags = ''): RegExp {
  const key = `${flags}/${pattern}`;
  let regExp = compiled.get(key);
  if (!regExp) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    regExp = new RegExp(`^${body}$`, flags);
    compiled.set(key, regExp);
  }
  return regExp;
}

const matchesAction = (patterns: string[], action: string) => patterns.some((p) => wildcard(p, 'i').test(action));
const matchesResource = (patterns: string[], resource: string) => patterns.some((p) => wildcard(p).test(resource));

interface ParsedOperator {
  set?: 'ForAllValues' | 'ForAnyValue';
  operator: Operator;
  ifExists: boolean;
}

function parseOperator(text: string): ParsedOperator | undefined {
  const match = /^(?:(ForAllValues|ForAnyValue):)?([A-Za-z]+?)(IfExists)?$/.exec(text);
  if (!match || !(OPERATORS as readonly string[]).includes(match[2]!)) return undefined;
  return { ...(match[1] ? { set: match[1] as ParsedOperator['set'] } : {}), operator: match[2] as Operator, ifExists: Boolean(match[3]) };
}

function valueMatches(operator: Operator, patterns: string[], value: string): boolean {
  switch (operator) {
    case 'StringEquals':
      return patterns.includes(value);
    case 'StringNotEquals':
      return !patterns.includes(value);
    case 'StringLike':
      return patterns.some((p) => wildcard(p).test(value));
    case 'StringNotLike':
      return !patterns.some((p) => wildcard(p).test(value));
    default:
      return false;
  }
}

/** IAM's condition operators over a request's values, with its rules for missing and multi-valued keys. */
function conditionHolds(text: string, key: string, policyValues: string[], context: Record<string, string[]>): boolean {
  const parsed = parseOperator(text)!;
  const values = context[key];
  const missing = values === undefined || values.length === 0;
  if (parsed.operator === 'Null') return policyValues.includes(String(missing));
  const negated = parsed.operator.includes('Not');
  if (parsed.set === 'ForAllValues') return missing || values.every((v) => valueMatches(parsed.operator, policyValues, v));
  if (parsed.set === 'ForAnyValue') return !missing && values.some((v) => valueMatches(parsed.operator, policyValues, v));
  if (missing) return parsed.ifExists || negated;
  return valueMatches(parsed.operator, policyValues, values[0]!);
}

function conditionsHold(condition: unknown, context: Record<string, string[]>): boolean {
  if (condition === undefined) return true;
  return Object.entries(condition as Record<string, Record<string, string | string[]>>).every(([operator, keys]) =>
    Object.entries(keys).every(([key, values]) => conditionHolds(operator, key, list(values), context)),
  );
}

function applies(statement: PolicyStatement, { action, resource, context = {} }: Requirement): boolean {
  const actionMatches = statement.NotAction !== undefined ? !matchesAction(list(statement.NotAction), action) : matchesAction(list(statement.Action), action);
  const resourceMatches = statement.NotResource !== undefined ? !matchesResource(list(statement.NotResource), resource) : matchesResource(list(statement.Resource), resource);
  return actionMatches && resourceMatches && conditionsHold(statement.Condition, context);
}

/**
 * Refuse a policy this evaluator would judge wrongly: a condition on a key the local stack does
 * not fill from requests, or an operator it does not know. Guessing either way would make a green
 * run mean nothing.
 */
export function assertEvaluable(statements: PolicyStatement[], where: string): void {
  for (const statement of statements) {
    for (const [operator, keys] of Object.entries((statement.Condition ?? {}) as Record<string, Record<string, unknown>>)) {
      if (!parseOperator(operator)) throw new Error(`${where}: statement ${statement.Sid ?? '(no Sid)'} uses the condition operator ${operator}, which the local IAM check does not evaluate; teach local/iam/policy.ts first`);
      for (const key of Object.keys(keys)) {
        if (!KNOWN_CONDITION_KEYS.includes(key)) throw new Error(`${where}: statement ${statement.Sid ?? '(no Sid)'} has a condition on ${key}, which the local IAM check does not evaluate; teach local/iam/policy.ts and aws-requests.ts its values first`);
      }
    }
    if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') throw new Error(`${where}: statement ${statement.Sid ?? '(no Sid)'} has no valid Effect`);
  }
}

/** IAM's decision for one requirement under a set of identity-policy statements. */
export function decide(statements: PolicyStatement[], requirement: Requirement): Decision {
  const deny = statements.find((s) => s.Effect === 'Deny' && applies(s, requirement));
  if (deny) return { allowed: false, reason: 'explicit deny', ...(deny.Sid ? { statement: deny.Sid } : {}) };
  if (statements.some((s) => s.Effect === 'Allow' && applies(s, requirement))) return { allowed: true };
  return { allowed: false, reason: 'no allow' };
}
