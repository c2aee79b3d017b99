"""The host layouts guest NICs are plugged into, built in scratch namespaces from the host
primitives (kvmnet.host) and handing out backends (kvmnet.backends) for the guests' NICs:

    bridge.BridgeTopology     tap ports on a Linux bridge, a peer beyond it
    macvtap.MacvtapTopology   macvtaps on a lower device (a veth standing in for the NIC), a
                              switch with optional hairpin beyond it, a peer on the switch
"""
