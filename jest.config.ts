import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/lib', '<rootDir>/functions', '<rootDir>/local', '<rootDir>/scripts', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // middy and fauxqs ship ESM only; swc turns them into CommonJS like our own code.
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // The deploy bundles pdjs with the runtime's fetch in place of cross-fetch (serverless.yml's
  // esbuild alias); tests run the same code.
  moduleNameMapper: { '^cross-fetch$': '<rootDir>/lib/shims/pdjs-fetch.ts' },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|fauxqs|toad-cache)/)'],
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/global-setup.ts',
  // The integration suites wait on local I/O as much as they compute: two at a time fits two cores.
  maxWorkers: 2,
  testSequencer: '<rootDir>/test/longest-first-sequencer.cjs',
  reporters: ['default', '<rootDir>/test/plain-summary-reporter.cjs'],
};

export default config;
