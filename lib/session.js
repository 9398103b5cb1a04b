'use strict';
// The session of the rhea-shaped API: one per connection, the place between receiver and
// connection where events may be heard (lib/events.js), and where the session's own events start
// (session_open, session_error, session_close: lib/connection.js), with its `error` (the one the
// server gave when it last ended the session), as in rhea.

const { EventEmitter } = require('node:events');
const util = require('node:util');

class Session extends EventEmitter {
  constructor(connection) {
    super();
    this.connection = connection;
    this._parent = connection;
    this.error = undefined;
  }

  _context(extra) {
    return Object.assign({ session: this }, this.connection._context(), extra);
  }

  [util.inspect.custom]() {
    return 'Session {}';
  }
}

module.exports = { Session };
