#!/usr/bin/python3
"""A scriptable libzmq peer for emq's interop tests (run with /usr/bin/python3, which has pyzmq).

One socket of any type (REQ REP DEALER ROUTER PUB SUB XPUB XSUB PUSH PULL PAIR) that binds or
connects, then speaks JSON lines (frames and topics are hex):

  stdout, first line:  {"ready": true, "endpoint": "tcp://127.0.0.1:PORT", "zmq": "4.3.4"}
                       (for bind, the endpoint actually bound: port 0 or * becomes the real port)
  stdin -> stdout, exactly one reply line per request, in order:
    {"op": "send", "frames": [hex, ...]}          -> {"ok": true} | {"error": "...", "code": "EHOSTUNREACH"}
        optional "timeout": ms the send may wait for room (0 = must not wait; default 5000)
    {"op": "subscribe", "topic": hex} / {"op": "unsubscribe", "topic": hex}   (SUB) -> {"ok": true}
    {"op": "fill", "prefix": [hex...], "size": S, "max": N, "stall": ms}
        send prefix + [S zero bytes] + [b"%08d" % i] for i = 0.. until N are sent or one send has
        waited `stall` ms for room -> {"sent": k, "blocked": bool, "ms": elapsed}
    {"op": "drain", "quiet": ms, "max": N, "timeout": ms}
        receive until nothing arrives for `quiet` ms (or N messages, or `timeout` in all)
        -> {"n": count, "tails": [hex of each message's last frame]}
    {"op": "close"}                               -> {"ok": true}: closes the socket now; LINGER
        applies (the process stays up, and ctx.term() at exit waits for the linger)
    {"op": "recv", "timeout": ms}                 -> {"frames": [hex, ...]} | {"error": "timeout"}
    {"op": "events"}                              -> {"events": ["HANDSHAKE_SUCCEEDED", ...]} (then cleared)
    {"op": "burst", "n": N, "window": W, "prefix": [hex...], "timeout": ms}
        send N messages prefix + [b"%08d" % i], at most W unanswered at a time, and check that N
        replies come back whose last frame counts 0..N-1 in order -> {"ok": true, "n": N} | {"error": ...}
    {"op": "exit"}                                -> {"ok": true}, then exits
    {"op": "zap"}                                 -> {"zap": [{"allowed": bool, "username": ..., "text": ...}]}
        (ZAP decisions made for --plain-server since the last call, then cleared)

PLAIN: --plain-server makes the socket a PLAIN server and starts pyzmq's ThreadAuthenticator (the
ZAP handler libzmq's PLAIN server requires) allowing exactly the --zap-user USER:PASS credentials;
--plain-username/--plain-password make it a PLAIN client.

In --mode echo every received message is sent straight back (a ROUTER echoes with the envelope,
so the reply goes to the sender); otherwise messages queue until "recv" takes them. With --lazy the
socket is read only for a pending "recv" or "drain", so an idle peer leaves messages in libzmq
(RCVHWM and TCP then push back on the sender, as for a stalled application). Monitor events
are recorded in both modes. The peer exits when stdin closes. LINGER is 0 (unless --linger) so
exit never hangs.
"""

import argparse
import errno
import json
import os
import sys
import time

import logging

import zmq
from zmq.utils.monitor import recv_monitor_message


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


EVENT_NAMES = {}
for _name in dir(zmq):
    if _name.startswith("EVENT_") and _name not in ("EVENT_ALL",):
        _v = getattr(zmq, _name)
        if isinstance(_v, int):
            EVENT_NAMES.setdefault(int(_v), _name[len("EVENT_"):])


class ZapRecorder(logging.Handler):
    """Collects the ThreadAuthenticator's ALLOWED/DENIED decisions (it reports them only as log lines)."""

    def __init__(self, into):
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("ALLOWED (PLAIN)"):
            user = msg.split("username=", 1)[1].split(" ", 1)[0] if "username=" in msg else ""
            self.into.append({"allowed": True, "username": user, "text": msg})
        elif msg.startswith("DENIED"):
            self.into.append({"allowed": False, "username": None, "text": msg})


def start_plain(ctx, sock, args):
    """PLAIN options; for a server also the ZAP handler. Returns (authenticator or None, decision log)."""
    zap_log = []
    authenticator = None
    if args.plain_server:
        from zmq.auth.thread import ThreadAuthenticator

        log = logging.getLogger("peer.zap")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(ZapRecorder(zap_log))
        authenticator = ThreadAuthenticator(ctx, log=log)
        authenticator.start()
        passwords = dict(u.split(":", 1) for u in args.zap_user)
        authenticator.configure_plain(domain="*", passwords=passwords)
        sock.setsockopt(zmq.PLAIN_SERVER, 1)
    if args.plain_username is not None:
        sock.setsockopt(zmq.PLAIN_USERNAME, args.plain_username.encode())
    if args.plain_password is not None:
        sock.setsockopt(zmq.PLAIN_PASSWORD, args.plain_password.encode())
    return authenticator, zap_log


TYPES = ["REQ", "REP", "DEALER", "ROUTER", "PUB", "SUB", "XPUB", "XSUB", "PUSH", "PULL", "PAIR"]
SNDTIMEO = 5000  # a send never blocks the script loop for longer


def error_reply(e, **extra):
    """A ZMQError as a reply line, with the errno's symbolic name as "code" (EHOSTUNREACH, EAGAIN...)."""
    code = errno.errorcode.get(e.errno) or {zmq.EFSM: "EFSM", zmq.ETERM: "ETERM"}.get(e.errno, str(e.errno))
    return dict(error="%s (errno %d)" % (e.strerror, e.errno), code=code, **extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--type", choices=TYPES, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--bind", metavar="ENDPOINT")
    g.add_argument("--connect", metavar="ENDPOINT")
    ap.add_argument("--identity", help="ZMQ_IDENTITY (routing id), as text")
    ap.add_argument("--mode", choices=["echo", "script"], default="script")
    ap.add_argument("--hb-ivl", type=int, default=0, help="ZMQ_HEARTBEAT_IVL ms")
    ap.add_argument("--hb-timeout", type=int, default=0, help="ZMQ_HEARTBEAT_TIMEOUT ms (0 = libzmq default)")
    ap.add_argument("--hb-ttl", type=int, default=0, help="ZMQ_HEARTBEAT_TTL ms")
    ap.add_argument("--reconnect-ivl", type=int, default=0, help="ZMQ_RECONNECT_IVL ms (0 = libzmq default)")
    ap.add_argument("--lazy", action="store_true", help="read the socket only for a pending recv/drain")
    ap.add_argument("--sndhwm", type=int, help="ZMQ_SNDHWM")
    ap.add_argument("--rcvhwm", type=int, help="ZMQ_RCVHWM")
    ap.add_argument("--linger", type=int, default=0, help="ZMQ_LINGER ms (default 0)")
    ap.add_argument("--router-mandatory", type=int, choices=[0, 1], default=1, help="ZMQ_ROUTER_MANDATORY (default 1)")
    ap.add_argument("--connect-routing-id", help="ZMQ_CONNECT_ROUTING_ID for the connect, as text (ROUTER)")
    ap.add_argument("--xpub-verbose", action="store_true", help="ZMQ_XPUB_VERBOSE")
    ap.add_argument("--xpub-verboser", action="store_true", help="ZMQ_XPUB_VERBOSER")
    ap.add_argument("--immediate", action="store_true", help="ZMQ_IMMEDIATE")
    ap.add_argument("--subscribe", action="append", default=[], metavar="TOPIC", help="ZMQ_SUBSCRIBE before bind/connect, as text (repeatable)")
    ap.add_argument("--plain-server", action="store_true", help="ZMQ_PLAIN_SERVER, with a ZAP handler")
    ap.add_argument("--zap-user", action="append", default=[], metavar="USER:PASS", help="credentials the ZAP handler allows (repeatable)")
    ap.add_argument("--plain-username", help="ZMQ_PLAIN_USERNAME (makes the socket a PLAIN client)")
    ap.add_argument("--plain-password", help="ZMQ_PLAIN_PASSWORD")
    args = ap.parse_args()

    ctx = zmq.Context.instance()
    sock = ctx.socket(getattr(zmq, args.type))
    sock.setsockopt(zmq.LINGER, args.linger)
    sock.setsockopt(zmq.SNDTIMEO, SNDTIMEO)
    if args.type == "ROUTER" and args.router_mandatory:
        # Report unknown peers instead of dropping silently, and block (bounded) when a peer is full.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if args.sndhwm is not None:
        sock.setsockopt(zmq.SNDHWM, args.sndhwm)
    if args.rcvhwm is not None:
        sock.setsockopt(zmq.RCVHWM, args.rcvhwm)
    if args.connect_routing_id is not None:
        sock.setsockopt(zmq.CONNECT_ROUTING_ID, args.connect_routing_id.encode())
    if args.xpub_verbose:
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
    if args.xpub_verboser:
        sock.setsockopt(zmq.XPUB_VERBOSER, 1)
    if args.immediate:
        sock.setsockopt(zmq.IMMEDIATE, 1)
    for topic in args.subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    if args.identity is not None:
        sock.setsockopt(zmq.IDENTITY, args.identity.encode())
    if args.hb_ivl:
        sock.setsockopt(zmq.HEARTBEAT_IVL, args.hb_ivl)
    if args.hb_timeout:
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.hb_timeout)
    if args.hb_ttl:
        sock.setsockopt(zmq.HEARTBEAT_TTL, args.hb_ttl)
    if args.reconnect_ivl:
        sock.setsockopt(zmq.RECONNECT_IVL, args.reconnect_ivl)
    authenticator, zap_log = start_plain(ctx, sock, args)
    mon = sock.get_monitor_socket()

    if args.bind:
        sock.bind(args.bind)
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        sock.connect(args.connect)
        endpoint = args.connect
    out({"ready": True, "endpoint": endpoint, "zmq": zmq.zmq_version()})

    stdin_fd = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(mon, zmq.POLLIN)
    poller.register(stdin_fd, zmq.POLLIN)
    idle = zmq.Poller()  # the same without the socket: --lazy with no recv pending, or socket closed
    idle.register(mon, zmq.POLLIN)
    idle.register(stdin_fd, zmq.POLLIN)
    closed = False

    inbox = []  # received messages not yet taken by "recv" (script mode)
    events = []
    pending = []  # queued requests; the head may be a "recv" waiting for a message
    linebuf = b""
    eof = False

    def drain_monitor():
        while True:
            try:
                ev = recv_monitor_message(mon, zmq.NOBLOCK)
            except zmq.Again:
                return
            events.append(EVENT_NAMES.get(ev["event"], str(ev["event"])))

    def burst(req):
        n = int(req["n"])
        window = int(req.get("window", 500))
        prefix = [bytes.fromhex(h) for h in req.get("prefix", [])]
        deadline = time.monotonic() + req.get("timeout", 20000) / 1000.0
        sent = got = 0
        bp = zmq.Poller()
        bp.register(sock, zmq.POLLIN)
        while got < n:
            while sent < n and sent - got < window:
                try:
                    sock.send_multipart(prefix + [b"%08d" % sent], zmq.NOBLOCK)
                except zmq.Again:
                    break
                sent += 1
            if time.monotonic() > deadline:
                return {"error": "timeout", "sent": sent, "received": got}
            if not bp.poll(50):
                continue
            while True:
                try:
                    msg = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                want = b"%08d" % got
                if msg[-1] != want:
                    return {"error": "out of order", "expected": want.decode(), "got": msg[-1].hex(), "received": got}
                got += 1
        return {"ok": True, "n": n}

    def fill(req):
        prefix = [bytes.fromhex(h) for h in req.get("prefix", [])]
        body = [bytes(int(req["size"]))] if req.get("size") else []
        limit = int(req["max"])
        sock.setsockopt(zmq.SNDTIMEO, int(req["stall"]))
        sent, blocked, t0 = 0, False, time.monotonic()
        try:
            while sent < limit:
                try:
                    sock.send_multipart(prefix + body + [b"%08d" % sent])
                except zmq.Again:
                    blocked = True
                    break
                except zmq.ZMQError as e:
                    return error_reply(e, sent=sent)
                sent += 1
        finally:
            sock.setsockopt(zmq.SNDTIMEO, SNDTIMEO)
        return {"sent": sent, "blocked": blocked, "ms": int((time.monotonic() - t0) * 1000)}

    def drain(req):
        quiet = int(req.get("quiet", 300))
        limit = int(req.get("max", 1 << 30))
        deadline = time.monotonic() + req.get("timeout", 20000) / 1000.0
        tails = [m[-1].hex() for m in inbox[:limit]]
        del inbox[:limit]
        dp = zmq.Poller()
        dp.register(sock, zmq.POLLIN)
        while len(tails) < limit and time.monotonic() < deadline and dp.poll(quiet):
            while len(tails) < limit:
                try:
                    tails.append(sock.recv_multipart(zmq.NOBLOCK)[-1].hex())
                except zmq.Again:
                    break
        return {"n": len(tails), "tails": tails}

    def serve():
        """Answers queued requests in order; stops at a recv with nothing to take."""
        nonlocal closed
        while pending:
            req = pending[0]
            op = req.get("op")
            if op == "recv":
                if inbox:
                    pending.pop(0)
                    out({"frames": [f.hex() for f in inbox.pop(0)]})
                    continue
                if time.monotonic() >= req["_deadline"]:
                    pending.pop(0)
                    out({"error": "timeout"})
                    continue
                return
            pending.pop(0)
            if op == "send":
                wait = req.get("timeout")
                try:
                    if wait is not None:
                        sock.setsockopt(zmq.SNDTIMEO, int(wait))
                    sock.send_multipart([bytes.fromhex(h) for h in req["frames"]])
                    out({"ok": True})
                except zmq.ZMQError as e:
                    out(error_reply(e))
                finally:
                    if wait is not None and not closed:
                        sock.setsockopt(zmq.SNDTIMEO, SNDTIMEO)
            elif op in ("subscribe", "unsubscribe"):
                try:
                    sock.setsockopt(zmq.SUBSCRIBE if op == "subscribe" else zmq.UNSUBSCRIBE, bytes.fromhex(req["topic"]))
                    out({"ok": True})
                except zmq.ZMQError as e:
                    out(error_reply(e))
            elif op == "fill":
                out(fill(req))
            elif op == "drain":
                out(drain(req))
            elif op == "close":
                if not closed:
                    closed = True
                    drain_monitor()
                    sock.disable_monitor()
                    sock.close()  # with the socket's LINGER; ctx.term() at exit waits for it
                out({"ok": True})
            elif op == "events":
                drain_monitor()
                out({"events": list(events)})
                del events[:]
            elif op == "zap":
                out({"zap": list(zap_log)})
                del zap_log[:]
            elif op == "burst":
                out(burst(req))
            elif op == "exit":
                out({"ok": True})
                raise SystemExit(0)
            else:
                out({"error": "unknown op %r" % (op,)})

    try:
        while not (eof and not pending):
            timeout = None
            if pending and pending[0].get("op") == "recv":
                timeout = max(0, int((pending[0]["_deadline"] - time.monotonic()) * 1000) + 1)
            reading = not closed and (not args.lazy or (pending and pending[0].get("op") == "recv"))
            socks = dict((poller if reading else idle).poll(timeout))
            if mon in socks:
                drain_monitor()
            if sock in socks:
                while True:
                    try:
                        msg = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if args.lazy:
                        inbox.append(msg)
                        break  # one per pending recv: the rest stays in libzmq
                    if args.mode == "echo":
                        try:
                            sock.send_multipart(msg)
                        except zmq.ZMQError as e:
                            sys.stderr.write("echo failed: %s\n" % e)
                    else:
                        inbox.append(msg)
            if stdin_fd in socks and not eof:
                chunk = os.read(stdin_fd, 1 << 20)
                if not chunk:
                    eof = True
                    poller.unregister(stdin_fd)
                linebuf += chunk
                *lines, linebuf = linebuf.split(b"\n")
                for line in lines:
                    if line.strip():
                        req = json.loads(line)
                        if req.get("op") == "recv":
                            req["_deadline"] = time.monotonic() + req.get("timeout", 5000) / 1000.0
                        pending.append(req)
            serve()
    except (SystemExit, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        if authenticator is not None:
            authenticator.stop()
        if not closed:
            sock.disable_monitor()
            sock.close(0)
        mon.close(0)
        ctx.term()


if __name__ == "__main__":
    main()
