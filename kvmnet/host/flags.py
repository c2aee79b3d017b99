"""Bit sets named by the kernel's own constants."""

from kvmnet.syscall import constants


def flag_names(value, prefix):
    """Names (without prefix) of the single-bit constants with `prefix` set in value."""
    by_bit = {}
    for name, bit in sorted(constants(prefix).items()):
        if bit and bit & (bit - 1) == 0 and value & bit:
            by_bit.setdefault(bit, []).append(name.removeprefix(prefix))
    # Aliases (IFF_NO_PI and IFF_NOFILTER are one bit) are shown together.
    return ["/".join(names) for _, names in sorted(by_bit.items())]


def bit_names(value, prefixes):
    """Names of the feature bits (constants giving a bit *number*) set in value."""
    names = []
    for prefix in prefixes:
        for name, bit in sorted(constants(prefix).items(), key=lambda i: i[1]):
            if 0 <= bit < 64 and value >> bit & 1:
                names.append(name)
    return names
