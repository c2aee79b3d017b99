"""Content checks from the peer: one crafted frame out, whatever comes back collected.

scapy builds and parses; the frames go through a packet socket opened inside the peer
namespace (scapy's own interface lookup would look at the process's namespace, not ours).

    exchange(netns, ifname, frame)       send one frame, return what arrives for a while
    arp_who_has(netns, ifname, ip, ...)  the MAC that answers for a 169.254.x.y address
    ping(netns, ifname, mac, ip, ...)    the ICMP echo reply from it, or None

IPv4 addresses must be link-local (169.254.0.0/16), IPv6 ones in fe80::/10, fd00::/8 or
ff02::/16: a frame carrying any other is refused before it is sent.
"""

import ipaddress
import select
import socket
import time

from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from kvmnet.peer.bulk import ETH_P_ALL

PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263
LINK_LOCAL = ipaddress.ip_network("169.254.0.0/16")
IPV6_ALLOWED = tuple(map(ipaddress.ip_network, ("fe80::/10", "fd00::/8", "ff02::/16")))
PEER_IP = "169.254.0.1"  # the peer's address in probes; the kernel there has none
TIMEOUT = 1.0


def link_local(ip):
    """ip, checked to be in 169.254.0.0/16 (ValueError otherwise)."""
    if ipaddress.ip_address(ip) not in LINK_LOCAL:
        raise ValueError(f"{ip} is not link-local (169.254.0.0/16): probes send nothing else")
    return str(ip)


def _open(ifname):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.bind((ifname, ETH_P_ALL))
    except BaseException:
        sock.close()
        raise
    return sock


def _check_addresses(pkt):
    """ValueError unless every IP address in pkt is one the suite may use."""
    for layer, fields in ((IP, ("src", "dst")), (ARP, ("psrc", "pdst")), (IPv6, ("src", "dst"))):
        if layer in pkt:
            for field in fields:
                value = pkt[layer].getfieldval(field)
                if value in (None, "0.0.0.0", "::"):
                    continue
                if layer is IPv6:
                    if not any(ipaddress.ip_address(value) in net for net in IPV6_ALLOWED):
                        raise ValueError(f"{value}: probes send IPv6 only within fe80::/10, "
                                         "fd00::/8 and ff02::/16")
                else:
                    link_local(value)


def exchange(netns, ifname, frame, timeout=TIMEOUT, until=None):
    """Send one frame (bytes or a scapy packet) on ifname in netns; return the frames
    (scapy Ether) that arrive within `timeout` s, stopping early at the first for which
    until(frame) is true."""
    pkt = frame if isinstance(frame, Ether) else Ether(bytes(frame))
    _check_addresses(pkt)
    sock = netns.call(_open, ifname)
    got = []
    try:
        sock.send(bytes(frame))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            reply = Ether(sock.recv(65600))
            got.append(reply)
            if until is not None and until(reply):
                break
    finally:
        sock.close()
    return got


def arp_who_has(netns, ifname, ip, src_mac, src_ip=PEER_IP, timeout=TIMEOUT):
    """Broadcast ARP who-has ip (from src_mac/src_ip); the MAC that answered, or None."""
    request = (Ether(dst="ff:ff:ff:ff:ff:ff", src=src_mac)
               / ARP(op="who-has", hwsrc=src_mac, psrc=link_local(src_ip), pdst=link_local(ip)))

    def answer(f):
        return ARP in f and f[ARP].op == 2 and f[ARP].psrc == ip

    found = [f for f in exchange(netns, ifname, request, timeout, until=answer) if answer(f)]
    return found[0][ARP].hwsrc if found else None


def ping(netns, ifname, dst_mac, ip, src_mac, src_ip=PEER_IP, ident=0x6b76, seq=1,
         payload=b"kvmnet probe", timeout=TIMEOUT):
    """ICMP echo request to ip at dst_mac; the echo reply (scapy Ether) or None."""
    request = (Ether(dst=dst_mac, src=src_mac)
               / IP(src=link_local(src_ip), dst=link_local(ip))
               / ICMP(type="echo-request", id=ident, seq=seq) / payload)

    def answer(f):
        return (ICMP in f and f[ICMP].type == 0 and f[ICMP].id == ident
                and f[ICMP].seq == seq and f[IP].src == ip)

    found = [f for f in exchange(netns, ifname, request, timeout, until=answer) if answer(f)]
    return found[0] if found else None
