"""The fleet table: one row a host — kernel, verdict, checks, failures by fault class,
performance against its own baseline — for the terminal and as an HTML page beside the
fleet's dashboard.
"""

import html
from pathlib import Path

from kvmnet.fleet.hosts import Host

HEADER = ("host", "kernel", "verdict", "checks", "failures by fault class", "performance")
_CHECK_WORDS = ("passed", "failed", "errors", "skipped")


def row(host: Host) -> tuple:
    checks = ", ".join(f"{host.checks[w]} {w}" for w in _CHECK_WORDS if host.checks[w]) or "-"
    faults = ", ".join(f"{n} {fault}" for fault, n in
                       sorted(host.faults.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"
    return (host.name, host.kernel, host.verdict, checks, faults, host.performance())


def summary(fleet: list[Host]) -> str:
    """One line: how many hosts passed, where the rollout stopped, who was never gated."""
    passed = sum(h.passed for h in fleet)
    failed = [h for h in fleet if h.status and not h.passed]
    never = [h for h in fleet if not h.status]
    said = f"{passed} of {len(fleet)} host{'s' if len(fleet) != 1 else ''} passed the gate"
    if failed:
        said += "; failed: " + ", ".join(f"{h.name} ({h.verdict})" for h in failed)
    if never:
        said += ("; not gated (the rollout stopped before their wave): "
                 + ", ".join(h.name for h in never))
    return said


def text(fleet: list[Host], results: Path) -> str:
    rows = [HEADER] + [row(h) for h in fleet]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = [f"kvmnet fleet: {len(fleet)} hosts, results in {results}/"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    details = [f"  {h.name}: {h.verdict}: {h.detail}" for h in fleet if h.detail]
    if details:
        lines += ["why:"] + details
    lines.append(summary(fleet))
    return "\n".join(lines) + "\n"


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .35em .8em; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { background: #f3f3f3; }
tr.passed td.verdict { color: #17702a; font-weight: 600; }
tr.failed td.verdict { color: #b3261e; font-weight: 600; }
tr.not-gated td { color: #777; }
td { white-space: nowrap; }
td.detail { color: #555; font-size: 90%; white-space: normal; }
"""


def page(fleet: list[Host], outputs: dict | None = None, dashboard: str | None = None) -> str:
    """The table as a self-contained HTML page (nothing loaded from anywhere). outputs:
    {host: relative link to its terminal output}; dashboard: a link to the Allure report."""
    outputs = outputs or {}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER + ("why",))
    body = []
    for host in fleet:
        cells = list(row(host))
        kind = "passed" if host.passed else "not-gated" if not host.status else "failed"
        name = html.escape(cells[0])
        if host.name in outputs:
            name = f'<a href="{html.escape(outputs[host.name])}">{name}</a>'
        tds = [f"<td>{name}</td>"] + [
            f'<td class="{"verdict" if i == 2 else ""}">{html.escape(c)}</td>'
            for i, c in enumerate(cells) if i]
        tds.append(f'<td class="detail">{html.escape(host.detail)}</td>')
        body.append(f'<tr class="{kind}">{"".join(tds)}</tr>')
    link = (f'<p><a href="{html.escape(dashboard)}">The dashboard</a>: every host\'s checks, '
            "one environment per host and kernel.</p>" if dashboard else "")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>kvmnet fleet</title><style>{_STYLE}</style></head><body>\n"
            f"<h1>kvmnet fleet: {len(fleet)} hosts</h1>\n<p>{html.escape(summary(fleet))}</p>\n"
            f"{link}<table><thead><tr>{head}</tr></thead><tbody>\n"
            + "\n".join(body) + "\n</tbody></table>\n</body></html>\n")
