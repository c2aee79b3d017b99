"""Boot, control-channel and exit costs, built-in VMM vs QEMU, side by side in one run (medians).

    .venv/bin/python benchmarks/boot.py [--runs 10] [--echoes 50]
    .venv/bin/python benchmarks/boot.py --kernel linux-image-6.1.0-47-amd64-unsigned

Prints boot-to-HELLO and boot-to-exit per runner, their ratio; the round trip of a bare
`echo` and of one carrying ECHO_ARGS (as many more characters each way), and what each of
those characters costs; and what one ring-0 instruction, one ring-3 instruction and one
port-I/O exit cost in the guest.

With --kernel the same run happens inside the kernel lab (kvmnet.lab: that kernel under
QEMU's emulation, this script started there again), and adds the lab table: the Linux
guest (that kernel, its NIC drivers, kvmnet-agent) from start to the agent's HELLO, per
runner, with the four NIC models plugged. Lab figures say what the lab costs, not a host.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kvmnet import lab
from kvmnet.guest_image import build
from kvmnet.linux_guest import lab_guest
from kvmnet.runners import RUNNERS, QemuRunner
from kvmnet.runners.images import hello_timeout
from kvmnet.runners.nics import MODELS, Nic
from kvmnet.topology.bridge import BridgeTopology

ECHO_ARGS = " ".join(["abcdefghijkl"] * 4)  # with its space, 52 more characters each way


def boot_once(runner, image):
    start = time.perf_counter()
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        hello = time.perf_counter() - start
        guest.channel.command("exit 0")
        guest.wait(30)
        return hello, time.perf_counter() - start


def timed(guest, text):
    t = time.perf_counter()
    guest.channel.command(text)
    return time.perf_counter() - t


def round_trips(runner, image, echoes):
    """Median seconds of `echo` and of `echo ECHO_ARGS`, on one guest, alternated."""
    bare, loaded = [], []
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        for _ in range(echoes):
            bare.append(timed(guest, "echo"))
            loaded.append(timed(guest, f"echo {ECHO_ARGS}"))
        guest.channel.command("exit 0")
        guest.wait(30)
    return statistics.median(bare), statistics.median(loaded)


def per_iteration(guest, command, n):
    """Seconds per loop iteration of `command n`, net of an empty command's round trip."""
    empty = statistics.median(timed(guest, "echo") for _ in range(5))
    return (statistics.median(timed(guest, f"{command} {n}") for _ in range(5)) - empty) / n


def linux_boots(names, runs):
    """{runner: [seconds from start to the Linux guest's HELLO]}, each boot with one NIC of
    every model on a bridge's ports, the runners alternating."""
    with tempfile.TemporaryDirectory(prefix="kvmnet-linux-") as scratch:
        image = lab_guest(Path(scratch) / "agent").boot(scratch)
        hdrs = [12 if model.startswith("virtio") else 0 for model in MODELS]
        with BridgeTopology.create("bootbench", ports=len(MODELS), vnet_hdr=hdrs) as topo:
            nics = [Nic(model, f"02:6b:4c:00:01:{i:02x}", topo.taps[i])
                    for i, model in enumerate(MODELS)]
            times = {n: [] for n in names}
            for _ in range(runs):
                for n in names:
                    start = time.perf_counter()
                    with RUNNERS[n]().start(image, nics=nics) as guest:
                        guest.channel.wait_hello(hello_timeout(image))
                        times[n].append(time.perf_counter() - start)
    return times


def lab_table(names, runs):
    print(f"\nlab: the Linux guest (kernel {lab.inside()}) from start to its agent's HELLO, "
          f"{runs} runs (s)")
    print(f"{'runner':10} {'median':>8} {'min':>8} {'max':>8}")
    for n, times in linux_boots(names, runs).items():
        print(f"{n:10} {statistics.median(times):8.1f} {min(times):8.1f} {max(times):8.1f}")


def in_lab(kernel, argv):
    """Run this script with argv inside the lab of kernel, its output here; its status."""
    candidate = lab.Lab(kernel)
    with tempfile.TemporaryDirectory(prefix="kvmnet-lab-bench-") as results:
        run = candidate.command((sys.executable, str(Path(__file__).resolve()), *argv),
                                results, timeout=7200,
                                follow=lambda text: print(text, end="", flush=True))
    return run.status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--echoes", type=int, default=50)
    parser.add_argument("--kernel", help="run inside the kernel lab of this kernel (a Debian "
                        "package name, .deb or directory) and add the Linux guest's boot")
    parser.add_argument("--linux-runs", type=int, default=3,
                        help="Linux guest boots per runner in the lab table")
    args = parser.parse_args()
    if args.kernel and not lab.inside():
        sys.exit(in_lab(args.kernel, ["--runs", str(args.runs), "--echoes", str(args.echoes),
                                      "--linux-runs", str(args.linux_runs)]))
    runs = args.runs
    image = build()
    names = [n for n in sorted(RUNNERS) if n != "qemu" or QemuRunner.missing() is None]
    boots = {n: [boot_once(RUNNERS[n](), image) for _ in range(runs)] for n in names}
    print(f"boot, median of {runs} runs (ms)")
    print(f"{'runner':10} {'to HELLO':>10} {'to exit':>10}")
    med = {}
    for n in names:
        med[n] = [statistics.median(b[i] for b in boots[n]) * 1e3 for i in (0, 1)]
        print(f"{n:10} {med[n][0]:10.1f} {med[n][1]:10.1f}")
    if "qemu" in med:
        print(f"{'ratio':10} {med['builtin'][0] / med['qemu'][0]:10.2f} "
              f"{med['builtin'][1] / med['qemu'][1]:10.2f}   (builtin / qemu; goal <= 0.5)")
    print(f"\ncontrol channel, median of {args.echoes} round trips (ms)")
    extra = len(ECHO_ARGS) + 1  # " " + ECHO_ARGS, in the command and again in its OK
    print(f"{'runner':10} {'echo':>10} {f'echo +{extra}':>10} {'per char':>12}")
    for n in names:
        bare, loaded = round_trips(RUNNERS[n](), image, args.echoes)
        print(f"{n:10} {bare * 1e3:10.2f} {loaded * 1e3:10.2f} "
              f"{(loaded - bare) / (2 * extra) * 1e6:9.1f} us")
    print("\nguest instruction and exit costs (median of 5, net of an empty command)")
    print(f"{'runner':10} {'ring 0 dec/jnz':>16} {'ring 3 dec/jnz':>16} {'one port exit':>15}")
    for n in names:
        with RUNNERS[n]().start(image) as guest:
            guest.channel.wait_hello(30)
            ring0 = per_iteration(guest, "spin0", 20_000)
            ring3 = per_iteration(guest, "spin3", 200_000_000)
            port_exit = _exit_cost(guest)
            guest.channel.command("exit 0")
            guest.wait(30)
        print(f"{n:10} {ring0 * 1e9:13.0f} ns {ring3 * 1e9:13.2f} ns {port_exit * 1e6:12.1f} us")
    if lab.inside():
        lab_table(names, args.linux_runs)


def _exit_cost(guest, n=2000):
    t = time.perf_counter()
    guest.channel.command(f"exits {n} 0x80")
    total = time.perf_counter() - t
    t = time.perf_counter()
    guest.channel.command("exits 0 0x80")
    return (total - (time.perf_counter() - t)) / n


if __name__ == "__main__":
    main()
