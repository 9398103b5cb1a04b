'use strict';
// Device messages shaped like the platform's data formats (property post, event, device status,
// lifecycle, downlink reply, a custom topic), for `aliyun-iot-amqp emulator --rate` and `demo`.

const crypto = require('node:crypto');

const PRODUCT_KEY = 'a1DemoProduct';
const DEVICES = ['thermostat-1', 'thermostat-2', 'door-sensor'];

/**
 * The i-th sample message (0-based), as `emulator.publish()` takes it: `{topic, body}`.
 * Most are property posts; every few messages another topic family comes along.
 */
function sampleMessage(i, now = Date.now()) {
  const deviceName = DEVICES[i % DEVICES.length];
  const productKey = PRODUCT_KEY;
  const iotId = crypto.createHash('sha1').update(`${productKey}/${deviceName}`).digest('base64url').slice(0, 20);
  const requestId = String(i + 1);
  const base = `/${productKey}/${deviceName}`;
  switch (i % 8) {
    case 3:
      return {
        topic: `${base}/thing/event/alarm/post`,
        body: { identifier: 'alarm', name: 'Alarm', type: 'alert', iotId, requestId, productKey, deviceName, gmtCreate: now, value: { level: 1 + (i % 3) }, time: now },
      };
    case 5:
      return {
        topic: `/as/mqtt/status/${productKey}/${deviceName}`,
        body: { status: i % 16 === 5 ? 'offline' : 'online', iotId, productKey, deviceName, lastTime: new Date(now).toISOString().replace('T', ' ').slice(0, 23), utcLastTime: new Date(now).toISOString(), clientIp: '192.0.2.10', time: new Date(now).toISOString().replace('T', ' ').slice(0, 23), utcTime: new Date(now).toISOString() },
      };
    case 6:
      return {
        topic: `${base}/thing/downlink/reply/message`,
        body: { gmtCreate: now, iotId, productKey, deviceName, requestId, code: 200, message: 'success', topic: `/sys/${productKey}/${deviceName}/thing/service/property/set`, data: {} },
      };
    case 7:
      return i % 16 === 7
        ? { topic: `${base}/thing/lifecycle`, body: { action: 'enable', iotId, productKey, deviceName, messageCreateTime: now } }
        : { topic: `${base}/user/update`, body: `custom payload #${i + 1} from ${deviceName}` };
    default:
      return { topic: `${base}/thing/event/property/post`, body: propertyPost(i, deviceName, { iotId, requestId, productKey, now }) };
  }
}

/** A property post of the device's own kind: a door sensor's door and battery, else a thermostat's climate. */
function propertyPost(i, deviceName, { iotId, requestId, productKey, now }) {
  const items = deviceName.startsWith('door-sensor')
    ? { doorState: { value: Math.floor(i / DEVICES.length) % 2, time: now }, battery: { value: 100 - (Math.floor(i / DEVICES.length) % 40), time: now } }
    : { temperature: { value: Math.round((19 + ((i * 7) % 60) / 10) * 10) / 10, time: now }, humidity: { value: 40 + (i % 20), time: now } };
  const deviceType = deviceName.startsWith('door-sensor') ? 'DoorSensor' : 'Thermostat';
  return { deviceType, iotId, requestId, productKey, gmtCreate: now, deviceName, items };
}

module.exports = { sampleMessage, PRODUCT_KEY, DEVICES };
