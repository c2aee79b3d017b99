"""NIC device models for the VMM: each a PCI function with a backend (kvmnet.devices.nic).

    e1000     Intel 82540EM (8086:100e)
    rtl8139   Realtek RTL8139C+ (10ec:8139)
"""
