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
}

export type Decision = { allowed: true } | { allowed: false; reason: 'explicit deny' | 'no allow'; statement?: string };

const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : [value].flat());

function wildcard(pattern: string, flags = ''): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

const matchesAction = (patterns: string[], action: string) => patterns.some((p) => wildcard(p, 'i').test(action));
const matchesResource = (patterns: string[], resource: string) => patterns.some((p) => wildcard(p).test(resource));

function applies(statement: PolicyStatement, { action, resource }: Requirement): boolean {
  const actionMatches = statement.NotAction !== undefined ? !matchesAction(list(statement.NotAction), action) : matchesAction(list(statement.Action), action);
  const resourceMatches = statement.NotResource !== undefined ? !matchesResource(list(statement.NotResource), resource) : matchesResource(list(statement.Resource), resource);
  return actionMatches && resourceMatches;
}

/**
 * Refuse a policy this evaluator would judge wrongly. Conditions depend on request context the
 * local stack does not model; guessing either way would make a green run mean nothing.
 */
export function assertEvaluable(statements: PolicyStatement[], where: string): void {
  for (const statement of statements) {
    if (statement.Condition !== undefined) {
      throw new Error(`${where}: statement ${statement.Sid ?? '(no Sid)'} has a Condition, which the local IAM check does not evaluate; teach local/iam/policy.ts its keys first`);
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
