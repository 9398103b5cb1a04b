'use strict';
// Environment variables set for the length of a call, for tests of what is read from the environment.

const ENV_KEYS = ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN'];

/** Runs fn with the given environment variables (undefined: unset), restoring them afterwards. */
function withEnv(vars, fn) {
  const saved = {};
  for (const k of Object.keys(vars)) {
    saved[k] = process.env[k];
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** The credentials variables, all unset (for withEnv). */
const noEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, undefined]));

module.exports = { withEnv, noEnv, ENV_KEYS };
