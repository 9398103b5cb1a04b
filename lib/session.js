'use strict';
// The session of the rhea-shaped API: one per connection, carrying nothing of its own but the
// place between receiver and connection where events may be heard (lib/events.js).

const { EventEmitter } = require('node:events');
const util = require('node:util');

class Session extends EventEmitter {
  constructor(connection) {
    super();
    this.connection = connection;
    this._parent = connection;
  }

  [util.inspect.custom]() {
    return 'Session {}';
  }
}

module.exports = { Session };
