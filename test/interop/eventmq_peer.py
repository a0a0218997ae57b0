"""Stand-ins for EventMQ's Python peers (jobmanager and client), for interop tests of our broker.

EventMQ itself is not installable here, so this script reproduces what its peers do on the wire,
as ../shared/reference/emqp.md records it (sections 1, 3.1, 3.2, 4 and 6), with pyzmq/libzmq:
- a DEALER whose identity is a fresh str(uuid4()), every frame sent as UTF-8;
- every received frame decoded with bytes.decode('utf-8'), strictly, as EventMQ's
  recv_multipart does: a frame that is not UTF-8 raises, which crashes the real peer, so here
  it ends the script with exit code 3 and a line saying so;
- jobmanager: INFORM with json.dumps(queues), wait for the ACK (dropping anything else), one
  READY per child only after the first HEARTBEAT from the router, REPLY [json.dumps({"value": r}),
  msgid] only when 'reply-requested' is in the headers, then READY; HEARTBEAT every interval;
  KBYE on SIGTERM; unknown commands are logged and ignored (KBYE is ignored, as EventMQ's does).
- client: REQUESTs with EventMQ's header order, fire and forget, reading whatever comes back.

Output: one JSON object per line on stdout (events for the test to read).
Usage: eventmq_peer.py jobmanager ADDR QUEUES_JSON CHILDREN HEARTBEAT_SECONDS
       eventmq_peer.py client ADDR COUNT QUEUE HEADERS
"""

import json
import signal
import sys
import time
import uuid

import zmq


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def recv_strict(sock):
    frames = sock.recv_multipart()
    try:
        return [f.decode("utf-8") for f in frames]
    except UnicodeDecodeError as e:
        out(event="crash", why="UnicodeDecodeError: %s" % e, frames=[f.hex() for f in frames])
        sys.exit(3)


def send(sock, command, *body):
    msgid = str(uuid.uuid4())
    sock.send_multipart([b"", b"eMQP/1.0", command.encode(), msgid.encode()] + [b.encode("utf-8") for b in body], zmq.NOBLOCK)
    return msgid


def dealer(ctx, addr):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.IDENTITY, str(uuid.uuid4()).encode())
    s.setsockopt(zmq.LINGER, 1000)
    s.connect(addr)
    return s


def run_job(body):
    params = json.loads(body)[1]
    args = params.get("args", [])
    if params.get("callable") == "add":
        return sum(args)
    if params.get("callable") == "fail":
        return "kaboom"  # EventMQ returns str(exc) as the value
    return args


def jobmanager(addr, queues, children, hb):
    ctx = zmq.Context()
    sock = dealer(ctx, addr)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    inform = send(sock, "INFORM", json.dumps(queues), "worker")
    out(event="inform", msgid=inform)
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    # Wait for the ACK, dropping anything else (as EventMQ does).
    while True:
        if poller.poll(5000):
            msg = recv_strict(sock)
            if msg[2] == "ACK" and msg[4] == inform:
                out(event="ack")
                break
            out(event="dropped-before-ack", command=msg[2])
    spawned = False
    last_hb = time.time()
    while not stopping:
        if time.time() - last_hb >= hb:
            send(sock, "HEARTBEAT", str(time.time()))
            last_hb = time.time()
        if not poller.poll(100):
            continue
        msg = recv_strict(sock)
        cmd = msg[2]
        if cmd == "HEARTBEAT":
            if not spawned:  # children start at the first router HEARTBEAT
                spawned = True
                for _ in range(children):
                    send(sock, "READY")
                out(event="ready", slots=children)
        elif cmd == "REQUEST":
            msgid, queue, headers, body = msg[3], msg[4], msg[5], msg[6]
            value = run_job(body)
            out(event="job", msgid=msgid, queue=queue, headers=headers, value=value)
            if "reply-requested" in headers:
                send(sock, "REPLY", json.dumps({"value": value}), msgid)
            send(sock, "READY")
        else:
            out(event="ignored", command=cmd)
    send(sock, "KBYE")
    out(event="kbye")
    sock.close()
    ctx.term()


def client(addr, count, queue, headers):
    ctx = zmq.Context()
    sock = dealer(ctx, addr)
    ids = []
    for i in range(count):
        job = json.dumps(["run", {"callable": "add", "path": "jobs", "args": [i, 1], "kwargs": {},
                                  "class_args": [], "class_kwargs": {}}])
        ids.append(send(sock, "REQUEST", queue, headers, job))
    out(event="sent", msgids=ids)
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    deadline = time.time() + 10
    seen = 0
    while time.time() < deadline and seen < count * 2:
        if poller.poll(100):
            msg = recv_strict(sock)
            seen += 1
            out(event="received", frames=msg[2:])
    out(event="done")
    sock.close()
    ctx.term()


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "jobmanager":
        jobmanager(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif role == "client":
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown role " + role)
