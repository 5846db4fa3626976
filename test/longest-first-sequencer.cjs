// Jest orders a run by each file's last duration, which a fresh clone (CI) does not have: it then
// starts the largest files first, and a small file that waits long (the soak, the rate limits'
// Retry-After waits) could start last and hold the run open while the other worker idles. These
// files take 30 s or more beside the suite (CI on two cores, 2026-12-07); longest first, the two
// workers end together.
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const LONGEST_FIRST = [
  'test/robustness/isolation.test.ts',
  'test/rate-limits-long.test.ts',
  'test/commands.test.ts',
  'test/rate-limits.test.ts',
  'test/robustness/soak.test.ts',
  'test/deploy/template.test.ts',
  'test/customers-cli.test.ts',
  'test/robustness/faults.test.ts',
  'test/deploy/aws-checks.test.ts',
  'test/deploy/deploy-steps.test.ts',
];

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const rank = (test) => {
      const at = LONGEST_FIRST.indexOf(path.relative(test.context.config.rootDir, test.path).split(path.sep).join('/'));
      return at === -1 ? LONGEST_FIRST.length : at;
    };
    const byDefault = super.sort(tests);
    return [...byDefault].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = LongestFirstSequencer;
module.exports.LONGEST_FIRST = LONGEST_FIRST;
