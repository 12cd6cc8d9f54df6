#!/usr/bin/env python3
"""Userspace link shaper of `agora sim cluster`, for kernels without sch_netem (its `tc ... netem` fails).

Relays Ethernet frames between pairs of interfaces in the switch namespace over AF_PACKET sockets: a peer's
link end (`a`) and its bridge port's veth (`b`). Frames a -> b (the peer's egress) wait `delayMs` plus a
uniform jitter of +/- `jitterMs` (kept in order, as netem does with a rate) and are dropped with probability
`lossPercent`; frames b -> a pass at once. Partitions stay the kernel's (bridge ports moved, links down).

`shaper.py offload-off <ifname>` (run in the peer's namespace) turns off checksum, segmentation and GRO offloads
of the peer's link end, so the frames relayed through userspace carry complete checksums and fit the MTU.

Input: one JSON line on stdin: {"links": [{"a": if, "b": if, "delayMs": n, "jitterMs": n, "lossPercent": n}],
"seed": n}. Prints "ready" once every socket is bound. Limits: QUEUE_FRAMES_MAX frames waiting per link
(beyond: dropped and counted, like a full qdisc). Ends on SIGTERM or when stdin closes.
"""
import array, fcntl, heapq, json, os, random, select, signal, socket, struct, sys, time

ETH_P_ALL = 3
PACKET_OUTGOING = 4
FRAME_BYTES_MAX = 65536
QUEUE_FRAMES_MAX = 10000

SIOCETHTOOL = 0x8946
# ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO
OFFLOAD_SET_COMMANDS = (0x17, 0x19, 0x1f, 0x24, 0x2c)

def offload_off(ifname):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for cmd in OFFLOAD_SET_COMMANDS:
        value = array.array('B', struct.pack('II', cmd, 0))
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', ifname.encode(), value.buffer_info()[0]))

def main():
    cfg = json.loads(sys.stdin.readline())
    rng = random.Random(cfg.get("seed", 1))
    socks = {}
    links = []
    for l in cfg["links"]:
        sa = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sa.bind((l["a"], 0)); sa.setblocking(False)
        sb = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sb.bind((l["b"], 0)); sb.setblocking(False)
        link = {"cfg": l, "a": sa, "b": sb, "queued": 0, "last": 0.0, "dropped": 0, "overflow": 0}
        links.append(link)
        socks[sa.fileno()] = (link, "a")
        socks[sb.fileno()] = (link, "b")
    ep = select.epoll()
    for fd in socks: ep.register(fd, select.EPOLLIN)
    ep.register(sys.stdin.fileno(), select.EPOLLIN | select.EPOLLHUP)
    heap = []
    seq = 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, link, frame = heapq.heappop(heap)
            link["queued"] -= 1
            try: link["b"].send(frame)
            except OSError: link["dropped"] += 1
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else 1.0
        for fd, ev in ep.poll(timeout):
            if fd == sys.stdin.fileno():
                if not os.read(fd, 4096): return
                continue
            link, side = socks[fd]
            s = link[side]
            while True:
                try: frame, addr = s.recvfrom(FRAME_BYTES_MAX)
                except BlockingIOError: break
                if addr[2] == PACKET_OUTGOING: continue
                c = link["cfg"]
                if side == "b":
                    try: link["a"].send(frame)
                    except OSError: link["dropped"] += 1
                    continue
                if c["lossPercent"] > 0 and rng.random() * 100 < c["lossPercent"]: continue
                if c["delayMs"] == 0 and c["jitterMs"] == 0:
                    try: link["b"].send(frame)
                    except OSError: link["dropped"] += 1
                    continue
                if link["queued"] >= QUEUE_FRAMES_MAX: link["overflow"] += 1; continue
                d = (c["delayMs"] + (rng.uniform(-c["jitterMs"], c["jitterMs"]) if c["jitterMs"] > 0 else 0)) / 1000
                due = max(time.monotonic() + d, link["last"])
                link["last"] = due
                seq += 1
                link["queued"] += 1
                heapq.heappush(heap, (due, seq, link, frame))

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "offload-off":
        offload_off(sys.argv[2]); sys.exit(0)
    try: main()
    except KeyboardInterrupt: pass
