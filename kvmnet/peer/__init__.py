"""The peer: what plays the network at the far end of a topology, in the peer namespace.

    bulk      streams of test frames sent and verified in C (Peer, send, receive)
    capture   a pcap of everything the peer interface sees during a block
    probes    scapy-built single exchanges: ARP, ICMP echo, one crafted frame
    ceiling   the tap write() ceiling: how fast any userspace backend can go here

Every frame stays inside the suite's namespaces; IPv4 only from 169.254.0.0/16.
"""
