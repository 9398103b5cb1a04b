'use strict';
// Whether the tests run under CI, by one rule for every test that asks (a missing broker, Qpid
// Proton or built addon fails there instead of being skipped). CI providers set CI=true (GitHub
// Actions, GitLab, CircleCI, Travis, ...) or CI=1 (e.g. some Jenkins and Buildkite setups); unset,
// empty, `false` or `0` is not CI.

/** Whether `env.CI` says the tests run under CI: `true` or `1` (any case, spaces around ignored). */
function underCI(env = process.env) {
  return /^(true|1)$/i.test(String(env.CI === undefined ? '' : env.CI).trim());
}

module.exports = { underCI };
