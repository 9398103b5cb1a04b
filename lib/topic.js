'use strict';
// The platform's topic families, as server-side subscriptions deliver them (the `topic`
// application property), and a topic filter with the usual wildcards.

/**
 * What a topic says about its message:
 * `{productKey, deviceName, kind, identifier}` where `kind` is one of
 *
 * - `'property'`       `/${pk}/${dn}/thing/event/property/post` (also `.../property/batch/post`,
 *                      `.../property/history/post`: `identifier` 'batch' / 'history')
 * - `'event'`          `/${pk}/${dn}/thing/event/${eventId}/post` (`identifier`: the event id;
 *                      also `.../${eventId}/history/post`)
 * - `'service-reply'`  `/${pk}/${dn}/thing/downlink/reply/message` (no identifier: the body names
 *                      the call), and `/${pk}/${dn}/thing/service/${id}_reply` (`identifier`: the
 *                      service id, e.g. 'property/set' for `.../service/property/set_reply`)
 * - `'status'`         `/as/mqtt/status/${pk}/${dn}` (online / offline)
 * - `'lifecycle'`      `/${pk}/${dn}/thing/lifecycle`
 * - `'topology'`       `/${pk}/${dn}/thing/topo/lifecycle`, and `/${pk}/${dn}/thing/list/found`
 *                      (`identifier` 'found': a gateway found sub-devices)
 * - `'ota'`            `/${pk}/${dn}/ota/upgrade` (`identifier` 'upgrade'),
 *                      `/${pk}/${dn}/ota/version/post` ('version'), and
 *                      `/${pk}/${packageId}/${jobId}/ota/job/status` ('job-status', no deviceName)
 * - `'custom'`         anything else, e.g. `/${pk}/${dn}/user/...`
 *
 * A leading `/sys` (device-side topic names) is ignored. `productKey` and `deviceName` are
 * undefined where the topic does not carry them (a custom topic with fewer than three levels).
 *
 * @param {string} topic
 * @returns {{productKey: string|undefined, deviceName: string|undefined, kind: string, identifier: string|undefined}}
 */
function parseTopic(topic) {
  const info = { productKey: undefined, deviceName: undefined, kind: 'custom', identifier: undefined };
  if (typeof topic !== 'string' || topic === '') return info;
  let parts = topic.split('/');
  if (parts[0] === '') parts = parts.slice(1);

  // /as/mqtt/status/${pk}/${dn}
  if (parts.length === 5 && parts[0] === 'as' && parts[1] === 'mqtt' && parts[2] === 'status') {
    return { productKey: parts[3], deviceName: parts[4], kind: 'status', identifier: undefined };
  }
  if (parts[0] === 'sys' && parts.length >= 4) parts = parts.slice(1);

  // /${pk}/${packageId}/${jobId}/ota/job/status: the OTA batch's state (no device)
  if (parts.length === 6 && parts[3] === 'ota' && parts[4] === 'job' && parts[5] === 'status') {
    return { productKey: parts[0], deviceName: undefined, kind: 'ota', identifier: 'job-status' };
  }
  if (parts.length < 3 || parts[0] === '' || parts[1] === '') return info;

  info.productKey = parts[0];
  info.deviceName = parts[1];
  const rest = parts.slice(2);
  const path = rest.join('/');

  if (rest[0] === 'thing') {
    // thing/event/property/post, thing/event/property/{batch,history}/post
    if (rest[1] === 'event' && rest[rest.length - 1] === 'post' && rest.length >= 4) {
      const middle = rest.slice(2, -1);
      if (middle[0] === 'property') {
        if (middle.length === 1) return set(info, 'property');
        if (middle.length === 2) return set(info, 'property', middle[1]);
      } else if (middle.length === 1 || (middle.length === 2 && middle[1] === 'history')) {
        return set(info, 'event', middle[0]);
      }
      return info;
    }
    if (path === 'thing/downlink/reply/message') return set(info, 'service-reply');
    if (rest[1] === 'service' && rest.length >= 3 && rest[rest.length - 1].endsWith('_reply')) {
      const id = rest.slice(2).join('/').slice(0, -'_reply'.length);
      if (id) return set(info, 'service-reply', id);
      return info;
    }
    if (path === 'thing/lifecycle') return set(info, 'lifecycle');
    if (path === 'thing/topo/lifecycle') return set(info, 'topology');
    if (path === 'thing/list/found') return set(info, 'topology', 'found');
    return info;
  }
  if (path === 'ota/upgrade') return set(info, 'ota', 'upgrade');
  if (path === 'ota/version/post') return set(info, 'ota', 'version');
  return info;
}

function set(info, kind, identifier) {
  info.kind = kind;
  info.identifier = identifier;
  return info;
}

/**
 * A predicate for a topic filter, levels split on '/':
 * `*` or `+` matches exactly one level, `**` or `#` any number of levels (zero included), and
 * inside a level `*` matches any characters and `?` one character.
 * E.g. `/a1Pk/+/thing/event/**`, `/as/mqtt/status/#`, `**\/property/post`.
 *
 * @param {string} pattern
 * @returns {(topic: string) => boolean}
 */
function topicMatcher(pattern) {
  if (typeof pattern !== 'string' || pattern === '') {
    throw new TypeError('aliyun-iot-amqp: a topic filter must be a non-empty string');
  }
  const ANY = 1;
  const ONE = 2;
  const levels = pattern.split('/').map((level) => {
    if (level === '**' || level === '#') return ANY;
    if (level === '*' || level === '+') return ONE;
    if (!/[*?]/.test(level)) return level;
    const re = level.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp(`^${re}$`);
  });
  const levelMatches = (p, t) => (p === ONE ? true : typeof p === 'string' ? p === t : p.test(t));
  return (topic) => {
    if (typeof topic !== 'string') return false;
    const parts = topic.split('/');
    // match(i, j): pattern levels from i match topic levels from j. Memoised: '**' can branch.
    const memo = new Map();
    const match = (i, j) => {
      const key = i * 1024 + j;
      if (memo.has(key)) return memo.get(key);
      let ok;
      if (i === levels.length) ok = j === parts.length;
      else if (levels[i] === ANY) ok = match(i + 1, j) || (j < parts.length && match(i, j + 1));
      else ok = j < parts.length && levelMatches(levels[i], parts[j]) && match(i + 1, j + 1);
      memo.set(key, ok);
      return ok;
    };
    return match(0, 0);
  };
}

module.exports = { parseTopic, topicMatcher };
