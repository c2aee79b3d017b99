"""Boot, control-channel and exit costs, built-in VMM vs QEMU, side by side in one run (medians).

    .venv/bin/python benchmarks/boot.py [--runs 10] [--echoes 50]

Prints boot-to-HELLO and boot-to-exit per runner, their ratio; the round trip of a bare
`echo` and of one carrying ECHO_ARGS (as many more characters each way), and what each of
those characters costs; and what one ring-0 instruction, one ring-3 instruction and one
port-I/O exit cost in the guest.
"""

import argparse
import statistics
import time

from kvmnet.guest_image import build
from kvmnet.runners import RUNNERS, QemuRunner

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--echoes", type=int, default=50)
    args = parser.parse_args()
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


def _exit_cost(guest, n=2000):
    t = time.perf_counter()
    guest.channel.command(f"exits {n} 0x80")
    total = time.perf_counter() - t
    t = time.perf_counter()
    guest.channel.command("exits 0 0x80")
    return (total - (time.perf_counter() - t)) / n


if __name__ == "__main__":
    main()
