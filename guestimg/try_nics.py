#!/usr/bin/env python3
"""Drive the guest's NIC drivers under QEMU against a peer in a network namespace.

For each NIC model asked for, boots kvmnet-guest.bin with that one NIC on a tap port
of a bridge inside a fresh namespace (nicpeer.py), whose far side this script uses
through AF_PACKET.  Then it checks, with every byte of every test frame verified
(kvmnet/testframe.py): send and recv at several sizes, a few thousand frames each way
without loss, the receive filters (normal, multicast list, allmulti, promisc), a MAC
change, bounce, serve (ARP and ping through scapy), interrupts (INTx, MSI-X for
virtio), jumbo frames where the model has them, and frames/s each way.  'multi' boots
all four models in one guest (shared INTx lines); 'variants' runs virtio-net with
features turned off.  Needs root; removes the namespace on the way out.

    sudo .venv/bin/python guestimg/try_nics.py [--models e1000,rtl8139,virtio,...]
        [--image build/kvmnet-guest.bin] [--bios qboot|default] [--rates] [-v]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from kvmnet import testframe  # noqa: E402
from nicpeer import (PEER_MAC, Peer, Session, enter_namespace, fields,  # noqa: E402
                     make_namespace, remove_namespace, set_mtu)
from try_qemu import Failure, expect  # noqa: E402

GUEST_IP = "169.254.0.2"
JUMBO = {"e1000": 9004, "virtio": 9000}   # models tested with a jumbo MTU (virtio: host_mtu)
SIZES = [42, 60, 64, 128, 512, 1024, 1514]


def guest_to_peer(s, peer, size, count, seed):
    """send: every frame arrives, in order, byte for byte."""
    peer.drain()
    t0 = time.monotonic()
    _, rest, secs = s.cmd(f"send {s.nic} {count} {size} {PEER_MAC} {seed:#x}", timeout=120)
    got = peer.collect(count, 10, want=lambda f: testframe.parse(f) is not None)
    res = fields(rest)
    expect(res["sent"] == count, f"sent {res}")
    expect(len(got) == count, f"{s.model} size {size}: peer got {len(got)} of {count}")
    for i, (_, f) in enumerate(got):
        why = testframe.check(f, seed)
        expect(why is None, f"{s.model} size {size} frame {i}: {why}")
        expect(testframe.parse(f)[0] == i, f"{s.model}: frame {i} has seq {testframe.parse(f)[0]}")
        expect(f[6:12] == testframe.mac_bytes(s.mac),
               f"src {f[6:12].hex()}")
    span = got[-1][0] - t0 if got else secs
    return count / span, {len(f) for _, f in got}


def peer_to_guest(s, peer, size, count, seed, window=256, every=32):
    """recv with acknowledgements: the peer keeps a window of unacknowledged frames."""
    frames = [testframe.build(s.mac, PEER_MAC, i, seed, size) for i in range(count)]
    peer.drain()
    s.start(f"recv {s.nic} {count} {seed:#x} {PEER_MAC} {every}")
    time.sleep(0.05)
    acked, sent, t0 = 0, 0, time.monotonic()
    deadline = t0 + 120
    while acked < count and time.monotonic() < deadline:
        while sent < count and sent - acked < window:
            peer.send(frames[sent])
            sent += 1
        f = peer.recv(0.5)
        a = f and testframe.parse_ack(f)
        if a:
            acked = max(acked, a[0])
            expect(a[1] == 0, f"guest reports {a[1]} bad frames")
    elapsed = time.monotonic() - t0
    data, res, _ = s.finish(stop=acked < count)
    expect(res["got"] == count and res["bad"] == 0 and res["lost"] == 0 and
           res["dup"] == 0 and res["reordered"] == 0,
           f"{s.model} size {size}: recv {res} {data}")
    return count / elapsed


def filtered(s, peer, dst, n=5):
    """How many of n frames to dst the guest takes (seen as 'other' by recv)."""
    peer.drain()
    s.start(f"recv {s.nic} 1 0xe0d")
    time.sleep(0.05)
    for i in range(n):
        peer.send(testframe.build(dst, PEER_MAC, i, 0xF00, 64))
    peer.send(testframe.build(s.mac, PEER_MAC, 0, 0xE0D, 64))
    _, res, _ = s.finish(timeout=10)
    return res["other"]


def test_filters(s, peer):
    mac = s.mac
    group, nongroup = "01:00:5e:00:00:fb", "01:00:5e:7f:12:34"
    stranger = "02:00:00:00:77:77"
    checks = [("normal", None, {mac: 5, stranger: 0, "ff:ff:ff:ff:ff:ff": 5, group: 0}),
              ("normal", group, {group: 5, nongroup: 0, stranger: 0}),
              ("allmulti", None, {nongroup: 5, stranger: 0, mac: 5}),
              ("promisc", None, {stranger: 5, nongroup: 5, mac: 5}),
              ("normal", "", {stranger: 0, group: 0, nongroup: 0, mac: 5})]
    for mode, mcast, want in checks:
        s.cmd(f"rxmode {s.nic} {mode}")
        if mcast is not None:
            s.cmd(f"mcast {s.nic} {mcast}".rstrip())
        for dst, n in want.items():
            got = filtered(s, peer, dst)
            expect(got == n, f"{s.model} {mode} mcast={mcast}: {got} of 5 frames to {dst}, "
                             f"want {n}")
    print(f"  filters: normal/mcast/allmulti/promisc as expected")


def test_mac(s, peer):
    new = "02:00:00:00:00:99"
    s.cmd(f"mac {s.nic} {new}")
    old, s.mac = s.mac, new
    expect(filtered(s, peer, new) == 5, "frames to the new MAC are not taken")
    expect(filtered(s, peer, old) == 0, "frames to the old MAC are still taken")
    data, _, _ = s.cmd("nics")
    expect(f"mac={new.replace(':', '')}" in data[0], f"nics after mac: {data}")
    peer.drain()
    s.cmd(f"send {s.nic} 3 64 {PEER_MAC} 7")
    got = peer.collect(3, 5, want=lambda f: testframe.parse(f) is not None)
    expect(len(got) == 3 and all(f[6:12] == testframe.mac_bytes(new) for _, f in got),
           "frames after mac change do not carry the new source")
    s.cmd(f"mac {s.nic} {old}")
    s.mac = old
    print(f"  mac: change to {new} and back")


def test_bounce(s, peer, count=200):
    peer.drain()
    s.start(f"bounce {s.nic} {count}")
    time.sleep(0.05)
    sent = [testframe.build(s.mac, PEER_MAC, i, 0xB0, 100 + i) for i in range(count)]
    back = []
    for i in range(0, count, 16):
        for f in sent[i:i + 16]:
            peer.send(f)
        back += [f for _, f in peer.collect(16, 5, want=lambda f: testframe.parse(f))]
    _, res, _ = s.finish(timeout=10)
    expect(res["bounced"] == count and len(back) == count, f"bounce {res}, back {len(back)}")
    for f, b in zip(sent, back):
        expect(b[:6] == f[6:12] and b[6:12] == f[:6] and b[12:len(f)] == f[12:], "bounced frame")
    print(f"  bounce: {count} frames back with addresses swapped")


def test_serve(s, peer):
    from scapy.all import ARP, ICMP, IP, Ether, Raw
    s.start(f"serve {s.nic} {GUEST_IP}")
    time.sleep(0.05)
    peer.drain()
    peer.send(bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC) /
                    ARP(op=1, hwsrc=PEER_MAC, psrc="169.254.0.1", pdst=GUEST_IP)))
    r = peer.collect(1, 3, want=lambda f: f[12:14] == b"\x08\x06")
    expect(r, "no ARP reply")
    arp = Ether(r[0][1])[ARP]
    expect(arp.op == 2 and arp.hwsrc == s.mac and arp.psrc == GUEST_IP and
           arp.pdst == "169.254.0.1", f"ARP reply {arp.summary()}")
    for i in range(5):
        req = (Ether(dst=s.mac, src=PEER_MAC) / IP(src="169.254.0.1", dst=GUEST_IP) /
               ICMP(type=8, id=0x1234, seq=i) / Raw(bytes(range(56))))
        peer.send(bytes(req))
        r = peer.collect(1, 3, want=lambda f: f[12:14] == b"\x08\x00")
        expect(r, f"no echo reply to ping {i}")
        rep = Ether(r[0][1])
        ip, icmp = rep[IP], rep[ICMP]
        ck_ip, ck_icmp = ip.chksum, icmp.chksum
        del ip.chksum, icmp.chksum
        rebuilt = Ether(bytes(rep))
        expect(icmp.type == 0 and icmp.seq == i and ip.src == GUEST_IP and
               bytes(icmp.payload) == bytes(range(56)), f"echo reply {rep.summary()}")
        expect(rebuilt[IP].chksum == ck_ip and rebuilt[ICMP].chksum == ck_icmp, "checksums")
    _, res, _ = s.finish(stop=True)
    expect(res == {"arp": 1, "icmp": 5}, f"serve {res}")
    print("  serve: ARP reply and 5 echo replies, checksums good")


def test_irq(s, peer, kind, n=5):
    s.start(f"irq {s.nic} {kind} {n}")
    time.sleep(0.2)
    for i in range(n):
        peer.send(testframe.build(s.mac, PEER_MAC, i, 0x1, 64))
        time.sleep(0.02)
    _, res, secs = s.finish(timeout=20)
    expect(res["frames"] == n and res["irqs"] >= 1, f"irq {kind}: {res}")
    print(f"  irq {kind}: {res['irqs']} interrupts for {n} frames, {res['spurious']} spurious "
          f"({secs * 1000:.0f} ms)")


def rates(args, model, peer):
    """Frames/s each way at 64 and 1514 B, args.repeat runs of args.count frames."""
    s = Session(args, [model])
    try:
        for size in (64, 1514):
            out, inn = [], []
            for r in range(args.repeat):
                out.append(guest_to_peer(s, peer, size, args.count, 0x900 + r)[0])
                inn.append(peer_to_guest(s, peer, size, args.count, 0xA00 + r))
            print(f"{model:14} {size:5} B: guest->peer " + " ".join(f"{x:7.0f}" for x in out) +
                  "   peer->guest " + " ".join(f"{x:7.0f}" for x in inn))
    finally:
        s.close()


def test_model(args, model, peer):
    extra = ",host_mtu=9000" if model == "virtio" and args.jumbo else ""
    s = Session(args, [model], extra)
    try:
        data, rest, _ = s.cmd("nics")
        print(f"{model}: boot-to-HELLO {s.boot * 1000:.0f} ms; {data[0]}")
        expect(rest == "1" and data[0].split()[1] == model and
               f"mac={s.mac.replace(':', '')}" in data[0] and "link=1" in data[0],
               f"nics: {data}")
        for size in SIZES:
            rate, lens = guest_to_peer(s, peer, size, 200, 0x100 + size)
            prate = peer_to_guest(s, peer, size, 200, 0x200 + size)
            print(f"  size {size:5}: send ok (peer saw {sorted(lens)} B), recv ok")
        for size in (64, 1514):
            rate, _ = guest_to_peer(s, peer, size, args.count, 0x300 + size)
            prate = peer_to_guest(s, peer, size, args.count, 0x400 + size)
            print(f"  {args.count} x {size} B: guest->peer {rate:8.0f} frames/s, "
                  f"peer->guest {prate:8.0f} frames/s")
        _, rest, _ = s.cmd(f"counters {s.nic}")
        print(f"  counters: {rest}")
        test_filters(s, peer)
        test_mac(s, peer)
        test_bounce(s, peer)
        test_serve(s, peer)
        test_irq(s, peer, "intx")
        if model.startswith("virtio"):
            test_irq(s, peer, "msix")
            test_irq(s, peer, "intx")
        else:
            s.cmd(f"irq {s.nic} msix 1", want="ERR")
        if model in JUMBO and args.jumbo:
            mtu = JUMBO[model]
            set_mtu(mtu + 100)
            s.cmd(f"mtu {s.nic} {mtu}")
            for size in (4000, mtu + 14):
                guest_to_peer(s, peer, size, 1000, 0x500 + size)
                peer_to_guest(s, peer, size, 1000, 0x600 + size)
            print(f"  jumbo: mtu {mtu}, 1000 x 4000 and {mtu + 14} B frames both ways")
            s.cmd(f"mtu {s.nic} 1500")
            set_mtu(1500)
        else:
            s.cmd(f"mtu {s.nic} 9000", want="ERR")
        s.cmd(f"send {s.nic} 1 1515 {PEER_MAC} 1", want="ERR")
        print(f"PASS {model}")
    finally:
        s.close()


VARIANTS = [   # virtio-net property sets that send the drivers down their other paths
    "virtio-legacy,mrg_rxbuf=off,any_layout=off,event_idx=off",   # 10-byte header, split
    "virtio-legacy,ctrl_mac_addr=off",                            # MAC through config space
    "virtio-legacy,mrg_rxbuf=off,host_mtu=9000",                  # big receive buffers
    "virtio,mrg_rxbuf=off,event_idx=off",                         # NO_NOTIFY, no merging
    "virtio,ctrl_vq=off",                                         # no control queue
]


def test_variant(args, spec, peer):
    model, _, props = spec.partition(",")
    s = Session(args, [model], "," + props)
    try:
        data, _, _ = s.cmd("nics")
        print(f"{spec}: {data[0]}")
        for size in (42, 60, 1514):
            guest_to_peer(s, peer, size, 300, 0xB00 + size)
            peer_to_guest(s, peer, size, 300, 0xC00 + size)
        print("  300 x 42, 60 and 1514 B both ways")
        if "ctrl_vq=off" in props:
            for text in ("rxmode {} promisc", "mcast {} 01:00:5e:00:00:fb",
                         "mac {} 02:00:00:00:00:99"):
                s.cmd(text.format(s.nic), want="ERR")
            print("  rxmode, mcast and mac: ERR unsupported")
        else:
            test_filters(s, peer)
            test_mac(s, peer)
        if "host_mtu=9000" in props:
            set_mtu(9100)
            s.cmd(f"mtu {s.nic} 9000")
            guest_to_peer(s, peer, 9014, 100, 0xD00)
            peer_to_guest(s, peer, 9014, 100, 0xE00)
            s.cmd(f"mtu {s.nic} 1500")
            set_mtu(1500)
            print("  jumbo: 9014 B frames both ways")
        test_irq(s, peer, "intx")
        test_irq(s, peer, "msix")
        print(f"PASS {spec}")
    finally:
        s.close()


def test_multi(args, peer):
    """All four models in one guest, on shared INTx lines: each NIC moves frames and
    takes its interrupts while the others are idle."""
    models = ["e1000", "rtl8139", "virtio", "virtio-legacy"]
    s = Session(args, models)
    try:
        data, rest, _ = s.cmd("nics")
        print(f"multi: boot-to-HELLO {s.boot * 1000:.0f} ms")
        for line in data:
            print(f"  {line}")
        expect(rest == str(len(models)), f"nics: {data}")
        for i, model in enumerate(models):
            s.use(i)
            expect(data[i].split()[1] == model and f"mac={s.mac.replace(':', '')}" in data[i],
                   f"nic{i}: {data[i]}")
            for size in (64, 1514):
                guest_to_peer(s, peer, size, 500, 0x700 + size)
                peer_to_guest(s, peer, size, 500, 0x800 + size)
            test_irq(s, peer, "intx")
            if model.startswith("virtio"):
                test_irq(s, peer, "msix")
            _, rest, _ = s.cmd(f"counters {i}")
            print(f"  nic{i} {model}: 500 x 64 and 1514 B both ways; counters {rest}")
        print("PASS multi")
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=os.path.join(HERE, "build", "kvmnet-guest.bin"))
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--models", default="e1000,rtl8139,virtio,virtio-legacy,multi,variants",
                   help="comma-separated; 'multi' is all four in one guest, 'variants' "
                        "virtio-net with features turned off")
    p.add_argument("--count", type=int, default=3000, help="frames for the rate runs")
    p.add_argument("--rates", action="store_true",
                   help="only measure frames/s, --repeat times per model, size and way")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--bios", choices=["qboot", "default"], default="qboot")
    p.add_argument("--no-jumbo", dest="jumbo", action="store_false")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    make_namespace()
    try:
        enter_namespace()
        peer = Peer()
        failed = []
        for model in args.models.split(","):
            try:
                if args.rates:
                    if model != "multi":
                        rates(args, model, peer)
                elif model == "multi":
                    test_multi(args, peer)
                elif model == "variants":
                    for spec in VARIANTS:
                        test_variant(args, spec, peer)
                else:
                    test_model(args, model, peer)
            except Failure as e:
                print(f"FAIL {model}: {e}")
                failed.append(model)
        return 1 if failed else 0
    finally:
        remove_namespace()


if __name__ == "__main__":
    sys.exit(main())
