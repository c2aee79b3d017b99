"""kvmnet's minimal VMM: guest memory, a vCPU loop, buses, PCI, a UART and a debug exit.

Devices never know where they live: each gets (offset, data) from a Bus that owns the
ranges. Python decides and configures; the vCPU exit itself is decoded in native/.
"""
