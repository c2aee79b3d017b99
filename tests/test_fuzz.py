"""The NIC models' C cores under libFuzzer, AddressSanitizer and UBSan (tests/fuzz/): each
model's harness plays a hostile guest (descriptors outside RAM, lengths that wrap, ring
indexes that jump, registers written in any order) for a bounded time, starting from its
seed corpus (tests/fuzz/corpus/<model>/, regression seeds included), and must find nothing.
`make fuzz` runs them longer."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "tests" / "fuzz"
BUILD = ROOT / "build" / "fuzz"
MODELS = ["e1000", "rtl8139", "virtio_net"]
SECONDS = 30  # per model: `make test` runs the three beside the other tests (-n auto)
UNIT_TIMEOUT = 10  # an input running longer is a finding: a device loop that does not end


def build(model):
    """Builds tests/fuzz's harness for model; its path."""
    if shutil.which("clang") is None:
        pytest.fail("clang is not installed: scripts/setup.sh installs it with libFuzzer and the "
                    "sanitizer runtimes (make setup, as root)")
    binary = BUILD / f"fuzz_{model}"
    built = subprocess.run(["make", "-s", "-C", str(FUZZ), str(binary)], capture_output=True,
                           text=True)
    assert built.returncode == 0, (
        f"building {binary.name} failed (clang's libFuzzer and sanitizer runtimes, Debian's "
        f"libclang-rt-*-dev, come with scripts/setup.sh):\n{built.stdout}{built.stderr}")
    return binary


def stat(output, name):
    found = re.search(rf"^stat::{name}:\s+(\d+)", output, re.MULTILINE)
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("model", MODELS)
def test_fuzzing_finds_nothing(model, tmp_path, record_property):
    """SECONDS of fuzzing the model's C core: no crash, leak, sanitizer report or hang."""
    binary = build(model)
    artifacts = BUILD / "artifacts" / model
    artifacts.mkdir(parents=True, exist_ok=True)
    found_before = set(artifacts.iterdir())
    corpus = tmp_path / "corpus"  # new inputs go here: the seed corpus stays as it is
    corpus.mkdir()
    # -jobs=1 -workers=1: one fuzzing process, whatever the machine; cwd takes its fuzz-0.log.
    run = subprocess.run(
        [str(binary), f"-max_total_time={SECONDS}", "-jobs=1", "-workers=1",
         f"-timeout={UNIT_TIMEOUT}", "-rss_limit_mb=2048", "-print_final_stats=1",
         f"-artifact_prefix={artifacts}/", str(corpus), str(FUZZ / "corpus" / model)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=SECONDS + 120)
    output = run.stdout
    executions = stat(output, "number_of_executed_units")
    record_property("fuzz_executions", executions)
    print(f"{model}: {executions} executions in {SECONDS} s, "
          f"{stat(output, 'average_exec_per_sec')}/s")
    found = sorted(set(artifacts.iterdir()) - found_before)
    report = "\n".join(line for line in output.splitlines()
                       if re.search(r"ERROR|SUMMARY|runtime error|^\s+#\d+ ", line))
    assert run.returncode == 0 and not found, (
        f"fuzzing {model} found a bug (exit status {run.returncode}); the input: "
        f"{', '.join(map(str, found)) or '(none written)'}; reproduce with "
        f"{binary} <input>\n{report[-6000:]}")
    assert executions, f"fuzz_{model} ran no inputs:\n{output[-3000:]}"
