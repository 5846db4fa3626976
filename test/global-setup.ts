import { loadDeployTemplate } from '../local/iam/deploy-roles';

/**
 * Every local stack enforces the deploy's IAM roles, read from the template `osls package`
 * generates. Make it once here, before the test files start stacks side by side.
 */
export default async function globalSetup(): Promise<void> {
  await loadDeployTemplate();
}
