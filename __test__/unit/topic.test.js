'use strict';
// lib/topic.js: every topic family of the platform's server-side subscription, and topic filters.

const test = require('node:test');
const assert = require('node:assert/strict');

const { parseTopic, topicMatcher } = require('../../lib/topic.js');
const amqp = require('../../index.js');

const info = (productKey, deviceName, kind, identifier) => ({ productKey, deviceName, kind, identifier });

const FAMILIES = [
  // property post
  ['/a1Pk/dev1/thing/event/property/post', info('a1Pk', 'dev1', 'property', undefined)],
  ['/a1Pk/dev1/thing/event/property/batch/post', info('a1Pk', 'dev1', 'property', 'batch')],
  ['/a1Pk/dev1/thing/event/property/history/post', info('a1Pk', 'dev1', 'property', 'history')],
  // events: the identifier is the event id
  ['/a1Pk/dev1/thing/event/alarm/post', info('a1Pk', 'dev1', 'event', 'alarm')],
  ['/a1Pk/dev1/thing/event/over_heat/history/post', info('a1Pk', 'dev1', 'event', 'over_heat')],
  // downlink results and service replies
  ['/a1Pk/dev1/thing/downlink/reply/message', info('a1Pk', 'dev1', 'service-reply', undefined)],
  ['/a1Pk/dev1/thing/service/reboot_reply', info('a1Pk', 'dev1', 'service-reply', 'reboot')],
  ['/sys/a1Pk/dev1/thing/service/property/set_reply', info('a1Pk', 'dev1', 'service-reply', 'property/set')],
  // device status
  ['/as/mqtt/status/a1Pk/dev1', info('a1Pk', 'dev1', 'status', undefined)],
  // lifecycle and topology
  ['/a1Pk/dev1/thing/lifecycle', info('a1Pk', 'dev1', 'lifecycle', undefined)],
  ['/a1Pk/gw1/thing/topo/lifecycle', info('a1Pk', 'gw1', 'topology', undefined)],
  ['/a1Pk/gw1/thing/list/found', info('a1Pk', 'gw1', 'topology', 'found')],
  // OTA
  ['/a1Pk/dev1/ota/upgrade', info('a1Pk', 'dev1', 'ota', 'upgrade')],
  ['/a1Pk/dev1/ota/version/post', info('a1Pk', 'dev1', 'ota', 'version')],
  ['/a1Pk/pkg123/job456/ota/job/status', info('a1Pk', undefined, 'ota', 'job-status')],
  // custom topics
  ['/a1Pk/dev1/user/update', info('a1Pk', 'dev1', 'custom', undefined)],
  ['/a1Pk/dev1/user/a/b/c', info('a1Pk', 'dev1', 'custom', undefined)],
  ['/a1Pk/dev1/thing/something/else', info('a1Pk', 'dev1', 'custom', undefined)],
  ['/a1Pk/dev1/thing/event/property/weird/extra/post', info('a1Pk', 'dev1', 'custom', undefined)],
  ['/a1Pk/dev1/thing/service/_reply', info('a1Pk', 'dev1', 'custom', undefined)],
  ['/sentinel', info(undefined, undefined, 'custom', undefined)],
  ['/a/b', info(undefined, undefined, 'custom', undefined)],
  ['', info(undefined, undefined, 'custom', undefined)],
  [undefined, info(undefined, undefined, 'custom', undefined)],
];

for (const [topic, expected] of FAMILIES) {
  test(`parseTopic(${JSON.stringify(topic)}) → ${expected.kind}${expected.identifier ? ` (${expected.identifier})` : ''}`, () => {
    assert.deepEqual(parseTopic(topic), expected);
  });
}

test('every kind is covered', () => {
  const kinds = new Set(FAMILIES.map(([, e]) => e.kind));
  assert.deepEqual([...kinds].sort(), ['custom', 'event', 'lifecycle', 'ota', 'property', 'service-reply', 'status', 'topology']);
});

test('the package exports parseTopic and topicMatcher', () => {
  assert.equal(amqp.parseTopic, parseTopic);
  assert.equal(amqp.topicMatcher, topicMatcher);
});

test('topicMatcher: + and * match one level, # and ** any number, ? and * inside a level', () => {
  const t = '/a1Pk/dev1/thing/event/property/post';
  const yes = ['/a1Pk/dev1/thing/event/property/post', '/a1Pk/+/thing/event/property/post', '/a1Pk/*/thing/event/+/post',
    '/a1Pk/#', '/a1Pk/**', '**/property/post', '#', '/a1P?/dev*/thing/**', '/a1Pk/dev1/thing/event/property/post/**', '/**/post'];
  const no = ['/a1Pk/+', '/a1Pk/dev2/#', '/a1Pk/dev1/thing/event/property', '**/alarm/post', '/a1P?k/#', '/as/mqtt/status/#'];
  for (const p of yes) assert.equal(topicMatcher(p)(t), true, p);
  for (const p of no) assert.equal(topicMatcher(p)(t), false, p);
  assert.equal(topicMatcher('/as/mqtt/status/#')('/as/mqtt/status/pk/dn'), true);
  assert.equal(topicMatcher('/a.b/+')('/aXb/c'), false, 'regex characters are literal');
  assert.equal(topicMatcher('#')(undefined), false);
  assert.throws(() => topicMatcher(''), TypeError);
});
