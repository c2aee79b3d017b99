"""kvmnet: a conformance suite for the network paths of a KVM host.

The library (this package) knows nothing of pytest: it opens /dev/kvm, builds host
topologies in network namespaces and runs guests. The pytest plugin lives in fixtures/.
"""
