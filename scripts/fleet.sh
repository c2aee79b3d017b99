#!/usr/bin/env bash
# The conformance suite across a fleet of KVM hosts, in waves, gathered into one dashboard
# and one table (README: "Many hosts").
#
#   scripts/fleet.sh INVENTORY [ansible-playbook options...]     e.g. -e kvmnet_markers='not perf'
#
# It runs the example playbook (ansible/upgrade.yml; FLEET_PLAYBOOK= your own, which includes
# the kvmnet_gate role) with the checkout's ansible-playbook (.venv: scripts/setup.sh), then
# merges what came back from every host (FLEET_RESULTS, default fleet-results/) into one
# Allure dashboard (FLEET_REPORT, default fleet-report/: one environment per host and kernel,
# rendered by scripts/report.sh; FLEET_DASHBOARD=no leaves it out) and prints the fleet table,
# also written as FLEET_REPORT/fleet.html. The dashboard's history is its own
# (KVMNET_HISTORY, default ~/.local/state/kvmnet/fleet-history.jsonl), apart from a single
# host's. Its exit status is ansible-playbook's: non-zero when a host failed and the rollout
# stopped.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "fleet: $*" >&2; exit 2; }
absolute() { realpath -ms -- "$1"; }

(($# >= 1)) || die "usage: scripts/fleet.sh INVENTORY [ansible-playbook options...]"
INVENTORY=$1
shift
[[ -e $INVENTORY ]] || die "no inventory $INVENTORY"
PLAYBOOK=$(absolute "${FLEET_PLAYBOOK:-$ROOT/ansible/upgrade.yml}")
RESULTS=$(absolute "${FLEET_RESULTS:-fleet-results}")
REPORT=$(absolute "${FLEET_REPORT:-fleet-report}")
PYTHON=$ROOT/.venv/bin/python
[[ -x $ROOT/.venv/bin/ansible-playbook ]] ||
  die "no ansible-playbook in $ROOT/.venv: run scripts/setup.sh (or make fleet)"
[[ $REPORT != "$RESULTS" && $RESULTS/ != "$REPORT"/* ]] ||
  die "the report directory $REPORT and the results $RESULTS must be apart"
export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$ROOT/ansible/ansible.cfg}
STATE=${XDG_STATE_HOME:-${HOME:?}/.local/state}
export KVMNET_HISTORY=${KVMNET_HISTORY:-$STATE/kvmnet/fleet-history.jsonl}
fleet() { PYTHONPATH=$ROOT "$PYTHON" -m kvmnet.fleet "$@"; }

fleet forget "$RESULTS"  # a host this run never reaches must not show the last run's verdict
status=0
paths=$("$PYTHON" -c 'import json, sys; print(json.dumps(
  {"kvmnet_checkout": sys.argv[1], "kvmnet_fleet_results": sys.argv[2]}))' "$ROOT" "$RESULTS")
"$ROOT/.venv/bin/ansible-playbook" -i "$INVENTORY" "$PLAYBOOK" "$@" -e "$paths" || status=$?
if [[ ! -d $RESULTS ]]; then  # no host was ever gated: a fleet of none passes nothing
  echo "fleet: ansible-playbook (exit $status) gated no host: nothing in $RESULTS" >&2
  exit $((status ? status : 2))
fi

fleet merge "$RESULTS"
dashboard=
if [[ ${FLEET_DASHBOARD:-yes} != no ]]; then
  # scripts/report.sh will not empty a directory without a report: what this script wrote
  # there alone (the table of a run without a dashboard) goes first.
  if [[ -d $REPORT && ! -e $REPORT/index.html ]]; then
    rm -rf "$REPORT/fleet.html" "$REPORT/hosts" "$REPORT/.gitignore"
  fi
  if KVMNET_FLEET=1 "$ROOT/scripts/report.sh" "$RESULTS/allure-results" "$REPORT"; then
    dashboard=index.html
  else
    echo "fleet: the dashboard could not be rendered; the table follows" >&2
  fi
fi
echo
fleet table "$RESULTS" --html "$REPORT/fleet.html" ${dashboard:+--dashboard "$dashboard"}
printf '*\n' > "$REPORT/.gitignore"  # never committed, as fleet-results/
exit "$status"
