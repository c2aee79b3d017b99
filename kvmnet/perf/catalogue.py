"""Every figure kvmnet measures, by a name that is stable across runs and hosts: what
thresholds files and baselines are keyed by."""

from dataclasses import dataclass

from kvmnet.perf.figures import HIGHER, LOWER
from kvmnet.runners.nics import MODELS

RUNNER_NAMES = ("builtin", "qemu")
GUEST_SIZES = (64, 1514)
CEILING_SIZES = (60, 1514)
HOST_PATHS = ("bridge_tap", "macvtap")  # a tap port of a bridge; a bridge-mode macvtap
VHOST_PATHS = ("vhost-net-bridge", "vhost-net-macvtap", "vhost-user-bridge")


@dataclass(frozen=True)
class Spec:
    unit: str
    better: str


def _catalogue():
    figures = {}
    for size in CEILING_SIZES:
        figures[f"host.tap_write.{size}B"] = Spec("frames/s", HIGHER)
    for size in GUEST_SIZES:
        for direction in ("to_peer", "from_peer"):
            for path in HOST_PATHS:
                figures[f"host.{path}.{direction}.{size}B"] = Spec("frames/s", HIGHER)
    for runner in RUNNER_NAMES:
        figures[f"kvm.{runner}.pio_exit"] = Spec("µs", LOWER)
        figures[f"kvm.{runner}.boot_to_hello"] = Spec("ms", LOWER)
        for size in GUEST_SIZES:  # virtio-net on a bridge-mode macvtap
            for direction in ("to_peer", "from_peer"):
                figures[f"guest.{runner}.virtio.macvtap.{direction}.{size}B"] = Spec(
                    "frames/s", HIGHER)
        for model in MODELS:
            stem = f"guest.{runner}.{model}.bridge"
            for size in GUEST_SIZES:
                figures[f"{stem}.to_peer.{size}B"] = Spec("frames/s", HIGHER)
                figures[f"{stem}.from_peer.{size}B"] = Spec("frames/s", HIGHER)
            figures[f"{stem}.round_trip"] = Spec("µs", LOWER)
        for path in VHOST_PATHS:  # virtio-net's rings handed to a vhost backend
            for size in GUEST_SIZES:
                for direction in ("to_peer", "from_peer"):
                    figures[f"guest.{runner}.virtio.{path}.{direction}.{size}B"] = Spec(
                        "frames/s", HIGHER)
            figures[f"guest.{runner}.virtio.{path}.round_trip"] = Spec("µs", LOWER)
    figures["kvm.builtin.ioeventfd_write"] = Spec("µs", LOWER)  # the VMM's own eventfds only
    figures["kvm.builtin.irqfd_round_trip"] = Spec("µs", LOWER)
    for model in MODELS:
        figures[f"guest.builtin.{model}.bridge.exits_per_frame"] = Spec("exits/frame", LOWER)
    return figures


FIGURES = _catalogue()


def spec(name):
    try:
        return FIGURES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a figure kvmnet knows (kvmnet/perf/catalogue.py)") from None
