// npm run mutation: StrykerJS over the model's page-table helpers, with the
// conformance suites on reference:rfc (soft-dirty and uffd-wp both) as the
// test command: a mutant lives if every suite still passes or skips.
// docs/mutants.md has the score, the survivors, and why not all of model/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'command',
  commandRunner: { command: 'node bin/mmconform.js run --target reference:rfc' },
  coverageAnalysis: 'off',
  mutate: ['model/arm64/pgtable.ts'],
  concurrency: 2,
  timeoutMS: 60000,
  reporters: ['clear-text', 'json', 'html', 'progress'],
  jsonReporter: { fileName: 'stryker/mutation.json' },
  htmlReporter: { fileName: 'stryker/mutation.html' },
  // Stryker rewrites a sandbox's tsconfig.json with TypeScript's compiler API, which typescript 7 no longer has
  // (shared/reference/toolchain.md); tsx runs the sources without it
  ignorePatterns: ['/tsconfig.json', '/stryker'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
