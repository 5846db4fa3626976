import { registerHooks } from 'node:module';
import path from 'node:path';

/**
 * The local stack runs the functions from source, where esbuild's aliases do not apply: send
 * pdjs's `cross-fetch` to the same module the deploy bundles in its place (serverless.yml
 * `custom.esbuild.alias`), so a local run handles PagerDuty's 429s as Lambda does. Imported
 * first by `local/stack.ts`, before anything loads pdjs. Jest refuses loader hooks and maps the
 * module itself (`moduleNameMapper` in jest.config.ts).
 */
const PDJS_FETCH = path.join(__dirname, '..', 'lib', 'shims', 'pdjs-fetch.ts');

if (!process.env.JEST_WORKER_ID) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      return nextResolve(specifier === 'cross-fetch' ? PDJS_FETCH : specifier, context);
    },
  });
}
