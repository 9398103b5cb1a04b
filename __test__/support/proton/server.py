#!/usr/bin/env python3
"""Apache Qpid Proton standing in for the IoT Platform's AMQP endpoint, for the integration tests.

A second AMQP 1.0 implementation that nobody here wrote (beside rhea and RabbitMQ): Proton's C
engine, driven by its Python reactor. It listens on 127.0.0.1 (TLS or plain TCP), checks SASL
PLAIN with Cyrus against a sasldb it creates at start (sasl2-bin's saslpasswd2), checks the
platform's username shape, and gives each attaching receiver one sender link fed from one
at-least-once queue of platform-shaped messages: what is not accepted (released, rejected,
modified, or unsettled when its link or connection went away) is sent again.

Usage: server.py CONFIG_JSON   (a JSON object, or @path to a file holding one)

Config (every key optional unless said):
  users            [{username, password}] (required): the sasldb's entries.
  tls              {cert, key}: PEM files; absent: plain TCP.
  max_frame_size   the server's max-frame-size (transfers larger than the smaller of the two
                   sides' sizes are split into many frames).
  idle_timeout     seconds; Proton advertises half of it in its Open and closes a connection
                   silent for the whole of it.
  publish          [{at, count, size?, sizes?, prefix?}]: `count` messages, `size` bytes of
                   filler in the body each (or one message per entry of `sizes`), queued `at`
                   seconds after start. Ids are prefix + a sequence number over the whole run.
  detach           {after, times?, error?: {condition, description}}: on each of the first
                   `times` (default 1) links, detach it once `after` deliveries were sent on it
                   (after: 0: as soon as it is attached).
  force_close      {after}: on the first connection, close it with amqp:connection:forced once
                   `after` deliveries were sent on it.
  drop_mid_delivery {after}: on the first connection, after `after` whole deliveries, send half
                   of the next (as many frames as that takes) and then drop the TCP connection.
  null_source      reply to the attach with a null source.
  presettle_every  send every n-th message pre-settled (at-most-once: it counts as done once sent).

Reports what happened as JSON lines on stdout: listening {port}, connection {conn}, login
{conn, user, ok}, attach {conn, link, source}, sent {conn, link, id, tag, settled, size},
partial {conn, id, bytes}, outcome {conn, link, id, outcome}, requeued {conn, link, id, why},
detached {conn, link, error}, link_closed {conn, link}, closed {conn, condition}, disconnected
{conn}, idle {...}, error {message}.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from proton import Condition, Delivery, Endpoint, Message, SASL, SSLDomain, Terminus
from proton.handlers import MessagingHandler
from proton.reactor import Container

T0 = time.monotonic()

USERNAME_SHAPE = re.compile(
    r'^(?P<client>[^|]{1,64})\|(?P<params>[^|]*)\|$')
REQUIRED_PARAMS = ('authMode', 'signMethod', 'timestamp', 'authId', 'consumerGroupId')


def report(event, **fields):
    fields = {'event': event, 't': round(time.monotonic() - T0, 3), **fields}
    sys.stdout.write(json.dumps(fields) + '\n')
    sys.stdout.flush()


def load_config(arg):
    if arg.startswith('@'):
        with open(arg[1:], encoding='utf-8') as f:
            return json.load(f)
    return json.loads(arg)


def make_sasldb(users):
    """A Cyrus config directory with proton-server.conf and a sasldb holding `users`."""
    d = tempfile.mkdtemp(prefix='aliyun-iot-amqp-proton-sasl-')
    db = os.path.join(d, 'proton.sasldb')
    saslpasswd2 = None
    for candidate in ('/usr/sbin/saslpasswd2', '/usr/bin/saslpasswd2'):
        if os.path.exists(candidate):
            saslpasswd2 = candidate
    if not saslpasswd2:
        raise SystemExit('saslpasswd2 not found: install sasl2-bin')
    for u in users:
        # -p: password on stdin; -c: create; -f: this db. The realm is the host's name, which is
        # also what Proton's Cyrus server looks the user up under.
        subprocess.run([saslpasswd2, '-f', db, '-c', '-p', u['username']],
                       input=u['password'].encode('utf-8'), check=True)
    with open(os.path.join(d, 'proton-server.conf'), 'w', encoding='utf-8') as f:
        f.write('pwcheck_method: auxprop\nauxprop_plugin: sasldb\n'
                f'sasldb_path: {db}\nmech_list: PLAIN\n')
    return d


def platform_message(seq, prefix, size):
    message_id = f'{prefix}{seq}'
    filler = 'x' * max(0, size)
    body = json.dumps({'seq': seq, 'id': message_id, 'fill': filler}).encode('utf-8')
    return message_id, Message(
        id=message_id,
        properties={
            'topic': f'/a1ProductKey/device{seq % 7}/thing/event/property/post',
            'messageId': message_id,
            'generateTime': 1700000000000 + seq,  # a Python int is an AMQP long
        },
        body=body,
        inferred=True,  # bytes as one data section, as the platform sends them
    )


class Platform(MessagingHandler):
    def __init__(self, cfg):
        super().__init__(prefetch=0, auto_accept=False, auto_settle=True, peer_close_is_error=False)
        self.cfg = cfg
        self.queue = []  # [(id, Message)] waiting for credit
        self.seq = 0
        self.conn_seq = 0
        self.link_seq = 0
        self.links = []  # open sender links, in attach order
        self.sent_on_conn = {}
        self.detaches_done = 0
        self.force_done = False
        self.drop_done = False
        self.sent_total = 0
        self.acceptor = None

    # -- setup -------------------------------------------------------------------------------

    def on_start(self, event):
        cfg = self.cfg
        domain = None
        if cfg.get('tls'):
            domain = SSLDomain(SSLDomain.MODE_SERVER)
            domain.set_credentials(cfg['tls']['cert'], cfg['tls']['key'], None)
            domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        self.acceptor = event.container.listen(f"127.0.0.1:{cfg.get('port', 0)}", ssl_domain=domain)
        port = self.acceptor._selectable._delegate.getsockname()[1]
        report('listening', port=port, tls=bool(domain), cyrus=SASL.extended())
        for batch in cfg.get('publish', []):
            event.container.schedule(batch.get('at', 0), _Call(lambda b=batch: self.publish(b)))

    def publish(self, batch):
        sizes = batch.get('sizes') or [batch.get('size', 16)] * batch['count']
        for size in sizes:
            mid, msg = platform_message(self.seq, batch.get('prefix', 'm-'), size)
            self.seq += 1
            self.queue.append((mid, msg))
        report('published', count=len(sizes), queued=len(self.queue))
        self.pump_all()

    def on_connection_bound(self, event):
        # The first event of an accepted connection: configure its transport before any frame.
        t = event.transport
        conn = event.connection
        self.conn_seq += 1
        conn._aliyun = {'id': self.conn_seq, 'sent': 0}
        conn.container = 'proton-platform'
        if self.cfg.get('max_frame_size'):
            t.max_frame_size = int(self.cfg['max_frame_size'])
        if self.cfg.get('idle_timeout'):
            t.idle_timeout = float(self.cfg['idle_timeout'])
        sasl = t.sasl()
        sasl.config_name('proton-server')
        sasl.config_path(os.environ['PN_SASL_CONFIG_PATH'])
        sasl.allowed_mechs('PLAIN')
        sasl.allow_insecure_mechs = not self.cfg.get('tls')
        report('connection', conn=self.conn_seq)

    # -- connection ----------------------------------------------------------------------------

    def on_connection_opening(self, event):
        conn = event.connection
        user = event.transport.user
        m = USERNAME_SHAPE.match(user or '')
        params = {}
        if m:
            for kv in m.group('params').split(','):
                k, _, v = kv.partition('=')
                params[k] = v
        ok = bool(m) and all(params.get(k) for k in REQUIRED_PARAMS) and params.get('authMode') in ('aksign', 'ststoken')
        report('login', conn=conn._aliyun['id'], user=user, ok=ok)
        if not ok:
            # Opened by the handshaker right after this returns: refuse on the next tick.
            def refuse():
                conn.condition = Condition('amqp:unauthorized-access', 'username not in the platform\'s shape')
                conn.close()
            self._container.schedule(0, _Call(refuse))

    def on_connection_closed(self, event):
        report('closed', conn=event.connection._aliyun['id'])

    def on_connection_remote_close(self, event):
        cond = event.connection.remote_condition
        report('remote_close', conn=event.connection._aliyun['id'],
               condition=cond.name if cond else None, description=cond.description if cond else None)

    def on_transport_error(self, event):
        cond = event.transport.condition
        conn = event.connection
        report('transport_error', conn=conn._aliyun['id'] if conn and hasattr(conn, '_aliyun') else None,
               condition=cond.name if cond else None, description=cond.description if cond else None)

    def on_transport_closed(self, event):
        conn = event.connection
        if conn is None or not hasattr(conn, '_aliyun'):
            return
        for link in list(self.links):
            # (Proton's Python wrappers are made afresh: compare our own ids, not the objects.)
            if link.connection._aliyun['id'] == conn._aliyun['id']:
                self.lose_link(link, 'connection gone')
        report('disconnected', conn=conn._aliyun['id'])
        conn._aliyun['gone'] = True

    # -- links ---------------------------------------------------------------------------------

    def on_link_opening(self, event):
        link = event.link
        if not link.is_sender:
            report('error', message='a client attached a sender; the platform has none')
            link.condition = Condition('amqp:not-allowed', 'no sender links here')
            link.close()
            return
        self.link_seq += 1
        link._aliyun = {'id': self.link_seq, 'sent': 0, 'unsettled': {}, 'lost': False}
        remote = link.remote_source.address
        if self.cfg.get('null_source'):
            link.source.type = Terminus.UNSPECIFIED  # encoded as a null source
        else:
            # Echo the client's source, or name our own: a null source is the null_source case.
            link.source.type = Terminus.SOURCE
            link.source.address = remote or 'DEFAULT_GROUP'
        link.target.copy(link.remote_target)
        link.open()
        report('attach', conn=link.connection._aliyun['id'], link=self.link_seq, name=link.name,
               source=remote, null_source=bool(self.cfg.get('null_source')))
        self.links.append(link)

    def on_link_closing(self, event):
        link = event.link
        cond = link.remote_condition
        report('client_detached', conn=link.connection._aliyun['id'], link=getattr(link, '_aliyun', {}).get('id'),
               condition=cond.name if cond else None)

    def on_link_closed(self, event):
        link = event.link
        if hasattr(link, '_aliyun'):
            report('link_closed', conn=link.connection._aliyun['id'], link=link._aliyun['id'])
            self.lose_link(link, 'detached')

    def lose_link(self, link, why):
        """The link is gone: what was sent on it and not settled by the client goes back."""
        info = link._aliyun
        if info['lost']:
            return
        info['lost'] = True
        if link in self.links:
            self.links.remove(link)
        back = []
        for tag, (mid, msg) in sorted(info['unsettled'].items(), key=lambda kv: kv[1][0]):
            back.append((mid, msg))
            report('requeued', conn=link.connection._aliyun['id'], link=info['id'], id=mid, why=why)
        info['unsettled'].clear()
        self.queue[0:0] = back
        self.pump_all()

    def on_sendable(self, event):
        self.pump(event.link)

    def pump_all(self):
        for link in list(self.links):
            self.pump(link)

    def pump(self, link):
        info = getattr(link, '_aliyun', None)
        if info is None or info['lost'] or link.state & Endpoint.LOCAL_CLOSED:
            return
        conn = link.connection
        cinfo = conn._aliyun
        if cinfo.get('gone') or cinfo.get('closing'):
            return
        while self.queue and link.credit > 0:
            if self.maybe_drop_mid(link):
                return
            mid, msg = self.queue.pop(0)
            self.seq_send(link, mid, msg)
            if self.after_send(link):
                return

    def seq_send(self, link, mid, msg):
        info = link._aliyun
        cinfo = link.connection._aliyun
        self.sent_total += 1
        tag = str(self.sent_total)
        presettle = self.cfg.get('presettle_every') and self.sent_total % int(self.cfg['presettle_every']) == 0
        dlv = link.send(msg, tag=tag)
        dlv._aliyun = (mid, info['id'])
        info['sent'] += 1
        cinfo['sent'] += 1
        if presettle:
            dlv.settle()
        else:
            info['unsettled'][tag] = (mid, msg)
        report('sent', conn=cinfo['id'], link=info['id'], id=mid, tag=tag, settled=bool(presettle))

    def after_send(self, link):
        """The scenario's strike after a send. Returns True when the link or connection went."""
        info = link._aliyun
        cinfo = link.connection._aliyun
        det = self.cfg.get('detach')
        if det and self.detaches_done < det.get('times', 1) and info['sent'] >= det['after']:
            self.detach(link, det)
            return True
        fc = self.cfg.get('force_close')
        if fc and not self.force_done and cinfo['sent'] >= fc['after']:
            self.force_done = True
            conn = link.connection
            cinfo['closing'] = True
            conn.condition = Condition('amqp:connection:forced', 'the server is restarting (test)')
            conn.close()
            report('forced_close', conn=cinfo['id'])
            return True
        return False

    def detach(self, link, det):
        self.detaches_done += 1
        err = det.get('error')
        if err:
            link.condition = Condition(err['condition'], err.get('description'))
        link.close()
        report('detached', conn=link.connection._aliyun['id'], link=link._aliyun['id'],
               error=err['condition'] if err else None)

    def maybe_drop_mid(self, link):
        dm = self.cfg.get('drop_mid_delivery')
        cinfo = link.connection._aliyun
        if not dm or self.drop_done or cinfo['sent'] < dm['after']:
            return False
        self.drop_done = True
        mid, msg = self.queue[0]  # stays queued: it was never delivered whole
        data = msg.encode()
        half = data[:len(data) // 2]
        dlv = link.delivery(f'partial-{mid}')
        link.stream(half)  # no advance(): transfers with more=true
        cinfo['closing'] = True
        report('partial', conn=cinfo['id'], id=mid, bytes=len(half), total=len(data))
        # Give the engine a moment to put those frames on the wire, then cut the socket.
        transport = link.connection.transport
        sel = getattr(transport, '_selectable', None)
        self._container.schedule(0.3, _Call(lambda: self.cut(sel, cinfo['id'], dlv)))
        return True

    def cut(self, sel, conn_id, dlv):
        try:
            sock = sel._delegate
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as e:
            report('error', message=f'cut: {e}')
        report('cut', conn=conn_id)

    # -- outcomes ------------------------------------------------------------------------------

    def outcome(self, event, name):
        dlv = event.delivery
        link = dlv.link
        info = getattr(link, '_aliyun', None)
        if info is None:
            return
        entry = info['unsettled'].pop(dlv.tag, None)
        mid = entry[0] if entry else None
        report('outcome', conn=link.connection._aliyun['id'], link=info['id'], id=mid, tag=dlv.tag,
               outcome=name, late=entry is None)
        if entry and name != 'accepted' and name != 'rejected':
            self.queue.insert(0, entry)
            report('requeued', conn=link.connection._aliyun['id'], link=info['id'], id=mid, why=name)
            self.pump_all()

    def on_accepted(self, event):
        self.outcome(event, 'accepted')

    def on_rejected(self, event):
        self.outcome(event, 'rejected')

    def on_released(self, event):
        name = 'modified' if event.delivery.remote_state == Delivery.MODIFIED else 'released'
        self.outcome(event, name)

    def on_settled(self, event):
        # Settled by the client with no outcome: not accepted, so it comes again.
        dlv = event.delivery
        if dlv.remote_state in (None, 0) and hasattr(dlv.link, '_aliyun'):
            self.outcome(event, 'settled-without-outcome')


class _Call:
    """A timer handler calling fn (Container.schedule takes a handler with on_timer_task)."""

    def __init__(self, fn):
        self.fn = fn

    def on_timer_task(self, _event):
        self.fn()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    cfg = load_config(sys.argv[1])
    if not SASL.extended():
        raise SystemExit('this Proton has no Cyrus SASL (SASL.extended() is False): '
                         'rebuild it against libsasl2-dev (pip install --no-binary python-qpid-proton)')
    os.environ['PN_SASL_CONFIG_PATH'] = make_sasldb(cfg['users'])
    handler = Platform(cfg)
    container = Container(handler)
    handler._container = container
    container.container_id = 'proton-platform'
    try:
        container.run()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
