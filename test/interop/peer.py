#!/usr/bin/python3
"""A scriptable libzmq peer for emq's interop tests (run with /usr/bin/python3, which has pyzmq).

One ROUTER or DEALER socket that binds or connects, then speaks JSON lines:

  stdout, first line:  {"ready": true, "endpoint": "tcp://127.0.0.1:PORT", "zmq": "4.3.4"}
                       (for bind, the endpoint actually bound: port 0 or * becomes the real port)
  stdin -> stdout, exactly one reply line per request, in order:
    {"op": "send", "frames": [hex, ...]}          -> {"ok": true} | {"error": "..."}
    {"op": "recv", "timeout": ms}                 -> {"frames": [hex, ...]} | {"error": "timeout"}
    {"op": "events"}                              -> {"events": ["HANDSHAKE_SUCCEEDED", ...]} (then cleared)
    {"op": "burst", "n": N, "window": W, "prefix": [hex...], "timeout": ms}
        send N messages prefix + [b"%08d" % i], at most W unanswered at a time, and check that N
        replies come back whose last frame counts 0..N-1 in order -> {"ok": true, "n": N} | {"error": ...}
    {"op": "exit"}                                -> {"ok": true}, then exits

In --mode echo every received message is sent straight back (a ROUTER echoes with the envelope,
so the reply goes to the sender); otherwise messages queue until "recv" takes them. Monitor events
are recorded in both modes. The peer exits when stdin closes. LINGER is 0 so exit never hangs.
"""

import argparse
import json
import os
import sys
import time

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--type", choices=["ROUTER", "DEALER"], required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--bind", metavar="ENDPOINT")
    g.add_argument("--connect", metavar="ENDPOINT")
    ap.add_argument("--identity", help="ZMQ_IDENTITY (routing id), as text")
    ap.add_argument("--mode", choices=["echo", "script"], default="script")
    ap.add_argument("--hb-ivl", type=int, default=0, help="ZMQ_HEARTBEAT_IVL ms")
    ap.add_argument("--hb-timeout", type=int, default=0, help="ZMQ_HEARTBEAT_TIMEOUT ms (0 = libzmq default)")
    ap.add_argument("--hb-ttl", type=int, default=0, help="ZMQ_HEARTBEAT_TTL ms")
    ap.add_argument("--reconnect-ivl", type=int, default=0, help="ZMQ_RECONNECT_IVL ms (0 = libzmq default)")
    args = ap.parse_args()

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER if args.type == "ROUTER" else zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, 5000)
    if args.type == "ROUTER":
        # Report unknown peers instead of dropping silently, and block (bounded) when a peer is full.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
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

    def serve():
        """Answers queued requests in order; stops at a recv with nothing to take."""
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
                try:
                    sock.send_multipart([bytes.fromhex(h) for h in req["frames"]])
                    out({"ok": True})
                except zmq.ZMQError as e:
                    out({"error": "%s (errno %d)" % (e.strerror, e.errno)})
            elif op == "events":
                drain_monitor()
                out({"events": list(events)})
                del events[:]
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
            socks = dict(poller.poll(timeout))
            if mon in socks:
                drain_monitor()
            if sock in socks:
                while True:
                    try:
                        msg = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
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
        sock.disable_monitor()
        mon.close(0)
        sock.close(0)
        ctx.term()


if __name__ == "__main__":
    main()
