"""What a failed conformance check must leave for whoever reads the report: the attachments
(`EVIDENCE`) and, from a run's Allure results, what each failed test attached
(`failed_tests_evidence`), for the tests that break a path and read the failure."""

import json
from pathlib import Path

EVIDENCE = {"guest serial log", "NIC counters", "peer capture (pcap)"}


def failed_tests_evidence(allure_dir):
    """{failed test: names of its attachments}, those of its fixtures' teardowns included
    (Allure files those under the fixture, in a container naming the test)."""
    read = [json.loads(p.read_text()) for p in Path(allure_dir).glob("*.json")]
    attached = {}
    for result in (r for r in read if r.get("status") == "failed" and "fullName" in r):
        names = {a["name"] for a in result.get("attachments", [])}
        for container in (c for c in read if result["uuid"] in c.get("children", [])):
            for step in container.get("befores", []) + container.get("afters", []):
                names |= {a["name"] for a in step.get("attachments", [])}
        attached[result["name"]] = names
    return attached
