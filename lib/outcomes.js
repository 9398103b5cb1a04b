'use strict';
// The outcomes of a settlement, as the native layer defines them (src/node/settle.rs), read here
// once: the codes of the fast path (`SettleCode`: many deliveries in one `settle` call), the
// outcome kinds of `settleWith` (`OutcomeKind`), which are also the names a settled delivery's
// `state` and a settle diagnostic's `outcome` take, and the name of each code.

const native = require('./native.js');

/** Settle codes of the native `settle()` batch. */
const ACCEPT = native.SettleCode.Accept;
const RELEASE = native.SettleCode.Release;

/** Outcome kinds (and names): 'accepted', 'released', 'rejected', 'modified'. */
const OUTCOMES = native.OutcomeKind;

/** The outcome name of each settle code, keyed by the code (not by its place in a list). */
const CODE_OUTCOMES = Object.freeze({ [ACCEPT]: OUTCOMES.Accepted, [RELEASE]: OUTCOMES.Released });

module.exports = { ACCEPT, RELEASE, OUTCOMES, CODE_OUTCOMES };
