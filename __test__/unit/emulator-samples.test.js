'use strict';
// The emulator's generated device messages (`emulator --rate`, `demo`): platform-shaped, each
// device of its own kind.

const test = require('node:test');
const assert = require('node:assert/strict');

test('sample messages: each device posts the properties of its own kind', () => {
  const { sampleMessage, DEVICES } = require('../../lib/emulator/samples.js');
  const posts = [];
  for (let i = 0; i < 48; i += 1) {
    const m = sampleMessage(i, 1700000000000);
    if (m.topic.endsWith('/thing/event/property/post')) posts.push(m);
  }
  for (const device of DEVICES) assert.ok(posts.some((m) => m.body.deviceName === device), `${device} posts properties`);
  for (const m of posts) {
    const names = Object.keys(m.body.items).sort();
    if (m.body.deviceName.startsWith('door-sensor')) {
      assert.equal(m.body.deviceType, 'DoorSensor');
      assert.deepEqual(names, ['battery', 'doorState']);
      assert.ok([0, 1].includes(m.body.items.doorState.value));
    } else {
      assert.equal(m.body.deviceType, 'Thermostat');
      assert.deepEqual(names, ['humidity', 'temperature']);
    }
  }
});
