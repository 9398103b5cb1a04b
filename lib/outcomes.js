'use strict';
// The outcomes of a settlement, as the native layer defines them (src/node/settle.rs), read here
// once: the codes of the fast path (`SettleCode`: many deliveries in one `settle` call), the
// outcome kinds of `settleWith` (`OutcomeKind`), which are also the names a settled delivery's
// `state` and a settle diagnostic's `outcome` take, and the name of each code; and the
// parameterised outcomes of reject() and modified(), for a delivery or a batch.

const native = require('./native.js');

/** Settle codes of the native `settle()` batch. */
const ACCEPT = native.SettleCode.Accept;
const RELEASE = native.SettleCode.Release;

/** Outcome kinds (and names): 'accepted', 'released', 'rejected', 'modified'. */
const OUTCOMES = native.OutcomeKind;

/** The outcome name of each settle code, keyed by the code (not by its place in a list). */
const CODE_OUTCOMES = Object.freeze({ [ACCEPT]: OUTCOMES.Accepted, [RELEASE]: OUTCOMES.Released });

/** The `rejected` outcome of `reject(error)`: `error` a string, an Error or `{condition, description}`. */
function rejectedOutcome(error) {
  let condition = native.CONDITION_INTERNAL_ERROR;
  let description;
  if (typeof error === 'string') description = error;
  else if (error && typeof error === 'object') {
    if (typeof error.condition === 'string') condition = error.condition;
    if (typeof error.description === 'string') description = error.description;
    else if (typeof error.message === 'string') description = error.message;
  }
  return { kind: OUTCOMES.Rejected, condition, description };
}

/** The `modified` outcome of `modified({delivery_failed, undeliverable_here, message_annotations})`. */
function modifiedOutcome(params) {
  const p = params || {};
  const outcome = {
    kind: OUTCOMES.Modified,
    deliveryFailed: Boolean(p.delivery_failed),
    undeliverableHere: Boolean(p.undeliverable_here),
  };
  if (p.message_annotations && typeof p.message_annotations === 'object') {
    outcome.annotationKeys = Object.keys(p.message_annotations);
    outcome.annotationValues = outcome.annotationKeys.map((k) => {
      const v = p.message_annotations[k];
      return ['string', 'number', 'boolean'].includes(typeof v) ? v : null;
    });
  }
  return outcome;
}

/** Whether release(params) asks for `modified` rather than `released`. */
function isModifiedRelease(params) {
  return Boolean(params && (params.delivery_failed || params.undeliverable_here || params.message_annotations));
}

module.exports = { ACCEPT, RELEASE, OUTCOMES, CODE_OUTCOMES, rejectedOutcome, modifiedOutcome, isModifiedRelease };
