#!/usr/bin/env bash
# `npm run broker`: a RabbitMQ with its AMQP 1.0 plugin on 127.0.0.1:5672, for the RabbitMQ tests
# (__test__/integration/rabbitmq.test.js). Uses a local rabbitmq-server when one is installed
# (Debian/Ubuntu: apt-get install rabbitmq-server), else Docker (rabbitmq:3.13). Returns once the
# port answers; a broker already answering is left as it is.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do answers && return 0; sleep 1; done
  echo "RabbitMQ did not open 127.0.0.1:5672 within 60 s" >&2
  return 1
}

if answers; then
  echo "a broker already answers on 127.0.0.1:5672"
  if command -v rabbitmq-plugins >/dev/null 2>&1; then rabbitmq-plugins enable rabbitmq_amqp1_0 >/dev/null 2>&1 || true; fi
  exit 0
fi

if command -v rabbitmq-server >/dev/null 2>&1; then
  echo "starting the local rabbitmq-server with its AMQP 1.0 plugin"
  rabbitmq-plugins enable --offline rabbitmq_amqp1_0 >/dev/null 2>&1 || true
  if ! rabbitmqctl status >/dev/null 2>&1; then rabbitmq-server -detached || true; fi
  for _ in $(seq 1 60); do rabbitmqctl status >/dev/null 2>&1 && break; sleep 1; done
  rabbitmq-plugins enable rabbitmq_amqp1_0 >/dev/null 2>&1 || true
  wait_port
elif command -v docker >/dev/null 2>&1; then
  echo "starting RabbitMQ in Docker (rabbitmq:3.13) with its AMQP 1.0 plugin"
  docker run -d --rm --name aliyun-iot-amqp-rabbitmq -p 127.0.0.1:5672:5672 rabbitmq:3.13 >/dev/null
  for _ in $(seq 1 60); do docker exec aliyun-iot-amqp-rabbitmq rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
  docker exec aliyun-iot-amqp-rabbitmq rabbitmq-plugins enable rabbitmq_amqp1_0 >/dev/null
  wait_port
else
  echo "neither rabbitmq-server nor docker found: install RabbitMQ (e.g. apt-get install rabbitmq-server) and run this again" >&2
  exit 1
fi
echo "RabbitMQ with AMQP 1.0 on 127.0.0.1:5672"
