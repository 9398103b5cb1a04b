'use strict';
// How the rhea-shaped endpoints emit: an event goes to the nearest endpoint that listens, walking
// up receiver → session → connection → container (as in rhea), and an exception never escapes
// into the native callback.

/** Throws `err` on the next tick, outside the caller (Node reports it as uncaught). */
function rethrowLater(err) {
  // Never let an exception escape into the native callback: Node reports it as uncaught, as it
  // would for an exception thrown from a socket's 'data' handler.
  process.nextTick(() => {
    throw err;
  });
}

/** Emits where someone listens, walking up receiver → session → connection → container (rhea). */
function dispatch(target, name, ...args) {
  for (let t = target; t; t = t._parent) {
    if (t._isContainer) {
      // The container always emits (an unheard 'error' throws there, as in rhea).
      t.emit(name, ...args);
      return t.listenerCount(name) > 0;
    }
    if (t.listenerCount(name) > 0) {
      t.emit(name, ...args);
      return true;
    }
  }
  return false;
}

/** Emits 'error' as dispatch() does; unheard even by the container, it is thrown on the next tick. */
function reportError(target, err) {
  try {
    dispatch(target, 'error', err);
  } catch (unheard) {
    rethrowLater(unheard);
  }
}

module.exports = { dispatch, rethrowLater, reportError };
