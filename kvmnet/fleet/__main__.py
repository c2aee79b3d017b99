"""The fleet's controller-side steps. scripts/fleet.sh runs:

    python -m kvmnet.fleet forget RESULTS      the last run's results gone (baselines stay)
    python -m kvmnet.fleet merge RESULTS       RESULTS/allure-results: every host's, merged
    python -m kvmnet.fleet table RESULTS [--html PAGE [--dashboard LINK]]
                                               the fleet table; PAGE its HTML version

and the Ansible role (ansible/roles/kvmnet_gate) records each host's gate with:

    python -m kvmnet.fleet prepare RESULTS CHECKOUT HOST...   once a wave: host list, checkout
    python -m kvmnet.fleet begin RESULTS HOST JSON            a host's gate starts
    python -m kvmnet.fleet status RESULTS HOST JSON           its status, as it goes
    python -m kvmnet.fleet finish RESULTS HOST JSON           its fetched results unpacked

JSON is an object of status fields (kvmnet/fleet/__init__.py).
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from kvmnet.fleet import hosts, merge, record, table


def write_page(results: Path, page: Path, dashboard: str | None):
    """The HTML table at page, each host's terminal output beside it (hosts/<host>.txt)."""
    fleet = hosts.read_all(results)
    page.parent.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for host in fleet:
        output = Path(results, host.name, "output.txt")
        if output.is_file():
            (page.parent / "hosts").mkdir(exist_ok=True)
            shutil.copyfile(output, page.parent / "hosts" / f"{host.name}.txt")
            outputs[host.name] = f"hosts/{host.name}.txt"
    page.write_text(table.page(fleet, outputs, dashboard))


def _fields(text):
    try:
        fields = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(fields, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return fields


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kvmnet.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, said in (("forget", "forget the last run's results (baselines stay)"),
                       ("merge", "merge every host's Allure results")):
        commands.add_parser(name, help=said).add_argument("results", type=Path)
    t = commands.add_parser("table", help="print the fleet table")
    t.add_argument("results", type=Path)
    t.add_argument("--html", type=Path, help="also write the table as this HTML page")
    t.add_argument("--dashboard", help="the dashboard's address, relative to the page")
    p = commands.add_parser("prepare", help="the fleet's directory, host list and checkout")
    p.add_argument("results", type=Path)
    p.add_argument("checkout", type=Path)
    p.add_argument("hosts", nargs="+")
    for name, said in (("begin", "a host's gate starts"), ("status", "a host's status"),
                       ("finish", "a host's fetched results")):
        c = commands.add_parser(name, help=said)
        c.add_argument("results", type=Path)
        c.add_argument("host")
        c.add_argument("fields", type=_fields)
    args = parser.parse_args(argv)

    if args.command == "prepare":
        try:
            count = record.prepare(args.results, args.checkout, args.hosts)
        except ValueError as e:
            parser.error(str(e))
        print(f"fleet: {count} files of {args.checkout} for {len(args.hosts)} hosts")
    elif args.command == "begin":
        record.begin(args.results, args.host, args.fields)
    elif args.command == "status":
        record.update(args.results, args.host, args.fields)
    elif args.command == "finish":
        record.finish(args.results, args.host, args.fields)
    elif args.command == "forget":
        record.forget(args.results)
    elif args.command == "merge":
        merged = merge.merge(args.results)
        print("fleet: merged " + ", ".join(f"{host} ({n} results)" for host, n in merged.items())
              + f" into {args.results / hosts.MERGED}")
    else:
        if not args.results.is_dir():
            parser.error(f"no fleet results in {args.results}")
        sys.stdout.write(table.text(hosts.read_all(args.results), args.results))
        if args.html:
            write_page(args.results, args.html, args.dashboard)
            print(f"fleet: the table as HTML: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
