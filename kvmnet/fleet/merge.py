"""Every host's Allure results, merged into one results directory for one dashboard.

Each result's `host` label becomes the host's inventory name (allure-pytest labels a result
with the host's own name, which two inventory entries may share, and which is not the name
the rollout knows it by); that name was `nodename`, kept as a label of its own. With its
`kernel` label, the dashboard makes each host (and its kernel) an environment of its own
(report/allurerc.mjs, KVMNET_FLEET). Performance metrics are keyed per host, so one host's
figure is never another's history. A host that brought back no results (unreachable, its
set-up failed, its wave never started) gets one result saying so, so that the dashboard,
too, names every host of the fleet.
"""

import hashlib
import json
import shutil
import time
import uuid
from pathlib import Path

from kvmnet.fleet import hosts as fleet_hosts

_OWN = ("environment.properties", "executor.json", "categories.json")  # per run: merged apart
FLEET_EPIC = "kvmnet fleet"


def merge(results: Path, out: Path | None = None) -> dict:
    """Merge results/<host>/allure-results/ of every host into out (default
    results/allure-results/, emptied first); returns {host: results merged}."""
    results = Path(results)
    out = Path(out) if out else results / fleet_hosts.MERGED
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    merged, environment = {}, []
    for host in fleet_hosts.read_all(results):
        source = results / host.name / "allure-results"
        count = 0
        for path in sorted(source.glob("*")) if source.is_dir() else ():
            if path.name.endswith("-result.json"):
                _result(path, out, host)
                count += 1
            elif path.name.endswith("-perf.json"):
                _metric(path, out, host.name)
            elif path.name == "environment.properties":
                environment += [f"{host.name}.{line}" for line in path.read_text().splitlines()
                                if line.strip()]
            elif path.name not in _OWN and path.is_file():
                shutil.copyfile(path, out / path.name)  # attachments, containers: uuid-named
        if not count:
            _stand_in(out, host)
        merged[host.name] = count
    (out / "environment.properties").write_text("".join(f"{line}\n" for line in environment))
    (out / "executor.json").write_text(json.dumps({
        "name": "kvmnet fleet", "type": "kvmnet",
        "reportName": f"kvmnet fleet: {len(merged)} hosts ({', '.join(merged)})"}))
    return merged


def _result(path, out, host):
    result = json.loads(path.read_text())
    labels = result.setdefault("labels", [])
    nodename = next((l["value"] for l in labels if l.get("name") == "host"), None)
    labels[:] = [l for l in labels if l.get("name") not in ("host", "nodename")]
    labels.append({"name": "host", "value": host.name})
    if nodename:
        labels.append({"name": "nodename", "value": nodename})
    if not any(l.get("name") == "kernel" for l in labels) and host.status.get("kernel"):
        labels.append({"name": "kernel", "value": host.status["kernel"]})
    (out / path.name).write_text(json.dumps(result))


def _metric(path, out, host):
    metrics = json.loads(path.read_text())
    for metric in metrics:
        metric["id"] = f"{metric.get('id', metric.get('key'))}@{host}"
        metric["key"] = f"{metric.get('key')}@{host}"
        metric["title"] = f"{metric.get('title', metric.get('key'))} ({host})"
    (out / f"{path.name.removesuffix('-perf.json')}@{host}-perf.json").write_text(
        json.dumps(metrics))


def _stand_in(out, host):
    """One result for a host that brought none back: its verdict, as a broken check (a
    host never reached by the rollout: skipped)."""
    name = f"the gate on {host.name}"
    history = hashlib.md5(f"kvmnet-fleet-gate:{host.name}".encode()).hexdigest()
    now = int(time.time() * 1000)
    result = {
        "uuid": str(uuid.uuid4()), "historyId": history, "testCaseId": history,
        "name": name, "fullName": f"kvmnet.fleet#{host.name}",
        "status": "skipped" if host.verdict == fleet_hosts.NOT_GATED else "broken",
        "statusDetails": {"message": f"{host.name}: {host.verdict}: {host.detail}".rstrip(": ")},
        "stage": "finished", "start": now, "stop": now,
        "labels": [{"name": "epic", "value": FLEET_EPIC}, {"name": "feature", "value": "the gate"},
                   {"name": "story", "value": host.verdict}, {"name": "host", "value": host.name},
                   {"name": "kernel", "value": host.status.get("kernel") or "unknown"},
                   {"name": "fault", "value": host.verdict}],
    }
    (out / f"{result['uuid']}-result.json").write_text(json.dumps(result))
