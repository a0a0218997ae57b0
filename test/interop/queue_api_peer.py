# libzmq (pyzmq) as a queue API client: takes the endpoint and a hex msgpack request from argv,
# runs a fixed script with REQ and DEALER sockets, and prints one JSON line per step for the test
# to check. JSON requests are built here; the msgpack one comes from the test (no msgpack module).
import binascii, json, sys, zmq

endpoint, msgpack_hex = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
out = lambda step, value: print(json.dumps({"step": step, "value": value}), flush=True)
H = {"Accept": "application/json", "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Project-ID": "interop"}

def req(sock, href, action, body=None, **extra):
    msg = {"href": href, "action": action, "headers": dict(H, **extra)}
    if body is not None:
        msg["body"] = body
    sock.send(json.dumps(msg).encode())

# REQ: lock-step, the envelope has the empty delimiter.
r = ctx.socket(zmq.REQ)
r.setsockopt(zmq.LINGER, 0)
r.setsockopt(zmq.RCVTIMEO, 5000)
r.connect(endpoint)
for href, action, body in [
    ("/v1/queues/jobs", "PUT", None),
    ("/v1/queues/jobs/messages", "POST", [{"ttl": 300, "body": {"n": i}} for i in range(3)]),
    ("/v1/queues/jobs/claims?limit=2", "POST", {"ttl": 60, "grace": 60}),
    ("/v1/queues/jobs/stats", "GET", None),
]:
    req(r, href, action, body)
    out("req " + action + " " + href, json.loads(r.recv()))

# DEALER: 50 pipelined requests sent before reading any reply; replies come back in order.
d = ctx.socket(zmq.DEALER)
d.setsockopt(zmq.LINGER, 0)
d.setsockopt(zmq.RCVTIMEO, 5000)
d.connect(endpoint)
for i in range(50):
    req(d, "/v1/queues/jobs/messages", "POST", [{"ttl": 60, "body": "d%d" % i}], **{"X-Request-ID": "r%d" % i})
ids = []
for i in range(50):
    rep = json.loads(d.recv())
    ids.append(rep["headers"].get("X-Request-ID"))
out("dealer order", ids)

# A msgpack request prepared by the test, sent as raw bytes; the msgpack reply goes back as hex.
d.send(binascii.unhexlify(msgpack_hex))
out("msgpack", binascii.hexlify(d.recv()).decode())

# Garbage is answered with a 400, and the same socket keeps working.
d.send(b"\xc1 not a request")
out("garbage", binascii.hexlify(d.recv()).decode())
req(d, "/v1/health", "GET")
out("after garbage", json.loads(d.recv()))
