#!/usr/bin/env bash
# Makes this checkout ready to run: Debian packages, a virtual environment with kvmnet and
# its dependencies, and the native module. Idempotent; a second run that finds nothing
# changed returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${KVMNET_VENV:-.venv}
# Debian's Python, not a per-user one, so that the suite also runs (and skips cleanly) as
# a user other than the one who set it up.
PYTHON=/usr/bin/python3
# qemu-system-x86 is the peer VMM that runs the same guest image; dpdk (the runtime and its
# PMDs) with dpdk-dev (which ships dpdk-testpmd) is the real vhost-user backend. kmod's
# depmod orders a lab kernel's modules (kvmnet/lab: kernel packages ship no modules.dep).
# chromium is the browser tests/test_report.py looks at the dashboard with. npm installs the
# dashboard's pinned tools (scripts/report.sh); Debian's nodejs and npm only where the machine
# has no npm: they conflict with a Node.js from elsewhere (NodeSource's bundles its npm).
# clang builds the NIC models' fuzzers (tests/fuzz/: tests/test_fuzz.py, make fuzz) with
# libFuzzer and the sanitizers, whose runtimes Debian's clang only recommends: once clang is
# in, its libclang-rt-<N>-dev (N from the clang-<N> it depends on) is named too.
# openssh-server: tests/test_fleet.py starts its own sshd, inside a namespace it made, as the
# fleet's second host (README: "Many hosts").
DEBIAN_PACKAGES=(gcc make binutils python3-venv python3-dev linux-libc-dev qemu-system-x86
                 dpdk dpdk-dev kmod chromium clang openssh-server)
command -v npm >/dev/null || DEBIAN_PACKAGES+=(nodejs npm)
clang_major=$(dpkg-query -W -f='${Depends}' clang 2>/dev/null |
              sed -n 's/^clang-\([0-9]\+\).*/\1/p' || true)
[[ -z $clang_major ]] || DEBIAN_PACKAGES+=("libclang-rt-$clang_major-dev")

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (install them as root)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The guest image: cached by a digest of its sources, so this is quick when unchanged.
build_guest() { "$VENV/bin/python" -m kvmnet.guest_image >/dev/null; }

# The stamp names everything the environment is built from.
stamp="$VENV/.kvmnet-setup-$(cat pyproject.toml setup.py constraints.txt native/*.[ch] native/*.py guestimg/testframe_layout.h | sha256sum | cut -c1-16)"
if [[ -f $stamp && -x $VENV/bin/pytest ]]; then
  build_guest
  exit 0
fi
echo "setup: building $VENV"
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -c constraints.txt -e '.[suite]'
rm -f "$VENV"/.kvmnet-setup-*
touch "$stamp"
build_guest
