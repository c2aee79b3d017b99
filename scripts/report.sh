#!/usr/bin/env bash
# Renders the HTML dashboard of a kvmnet run with Allure 3 (README: "Reading the results").
#
#   scripts/report.sh [RESULTS_DIR] [OUTPUT_DIR]     defaults: allure-results allure-report
#
# KVMNET_HISTORY names the Allure history file (JSONL, one line a run) the trends and each
# check's history tab are built from; default ${XDG_STATE_HOME:-$HOME/.local/state}/kvmnet/
# allure-history.jsonl: outside the checkout, so it builds up run after run, across kernel
# upgrades and fresh clones.
#
# On first use it installs the pinned tools of report/package-lock.json (allure, and the Node
# 22 it runs on: the machine's Node may be older) into build/report-tools/; later runs skip
# that until the lock changes. The report is made to work offline: the analytics tag Allure
# writes into every page is taken out, and a page that would still load anything from
# outside fails the script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/build/report-tools
CONFIG=$ROOT/report/allurerc.mjs

die() { echo "report: $*" >&2; exit 1; }
absolute() { realpath -ms -- "$1"; }

(($# <= 2)) || die "usage: scripts/report.sh [RESULTS_DIR] [OUTPUT_DIR]"
RESULTS=$(absolute "${1:-allure-results}")
OUT=$(absolute "${2:-allure-report}")
HISTORY=$(absolute "${KVMNET_HISTORY:-${XDG_STATE_HOME:-${HOME:?}/.local/state}/kvmnet/allure-history.jsonl}")

[[ -d $RESULTS ]] || die "no results directory $RESULTS (run the suite first: make conformance)"
compgen -G "$RESULTS/*-result.json" >/dev/null ||
  die "$RESULTS holds no Allure results (*-result.json): run the suite first (make conformance)"
case $OUT in
  / | "$ROOT" | "${HOME:-/}" | "$RESULTS" | "$RESULTS"/*) die "will not empty $OUT to write the report into" ;;
esac
[[ $RESULTS/ != "$OUT"/* ]] || die "the output directory $OUT holds the results: choose another"
if [[ -d $OUT && -n $(ls -A "$OUT") && ! -e $OUT/index.html ]]; then
  die "$OUT is not empty and holds no report (no index.html): will not empty it"
fi

# The tools, installed once per lock: the stamp names the hash of what they are built from.
install_tools() {
  local stamp
  stamp=$TOOLS/.installed-$(cat "$ROOT/report/package.json" "$ROOT/report/package-lock.json" | sha256sum | cut -c1-16)
  [[ -f $stamp && -x $TOOLS/node_modules/.bin/node && -f $TOOLS/node_modules/allure/cli.js ]] && return
  command -v npm >/dev/null ||
    die "npm is missing: it installs the report's tools once (apt-get install nodejs npm, or scripts/setup.sh)"
  echo "report: installing allure and Node 22 into ${TOOLS#"$ROOT"/}/ (once)"
  cp "$ROOT/report/package.json" "$ROOT/report/package-lock.json" "$TOOLS/"
  rm -f "$TOOLS"/.installed-*
  npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error >&2 ||
    die "npm ci of report/package-lock.json into $TOOLS failed"
  [[ -x $TOOLS/node_modules/.bin/node ]] || die "npm installed no node binary into $TOOLS"
  touch "$stamp"
}
mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
flock 9  # two reports at once install the tools once
install_tools
flock -u 9
NODE=$TOOLS/node_modules/.bin/node

mkdir -p "$(dirname "$HISTORY")"
# Allure moves its plugin's output up into OUT only when OUT holds nothing else: an old report
# left there would keep the new one in OUT/awesome/, under a stale index.html.
rm -rf "$OUT"
mkdir -p "$OUT"
# The config reads the results directory (one report environment per kernel) and the history
# path from the environment; allure's own child processes get the same Node first on PATH.
(cd "$ROOT" &&
  PATH=$TOOLS/node_modules/.bin:$PATH KVMNET_RESULTS_DIR=$RESULTS KVMNET_HISTORY=$HISTORY \
    "$NODE" "$TOOLS/node_modules/allure/cli.js" generate "$RESULTS" --output "$OUT" --config "$CONFIG") ||
  die "allure could not render $RESULTS"
[[ -f $OUT/index.html ]] || die "allure wrote no $OUT/index.html"

# Offline: take the Google Tag Manager script and its inline gtag config out of every page,
# then refuse a page that would still load anything (script, stylesheet, image) from outside.
python3 - "$OUT" <<'EOF' || exit 1
import pathlib, re, sys

out = pathlib.Path(sys.argv[1])
TAG = re.compile(r"<script\b[^>]*googletagmanager\.com[^>]*>\s*</script>\s*", re.I)
INLINE = re.compile(r"<script\b[^>]*>(?:(?!</script>).)*?\bgtag\s*\((?:(?!</script>).)*</script>\s*",
                    re.I | re.S)
for page in out.rglob("*.html"):
    text = page.read_text()
    cleaned = INLINE.sub("", TAG.sub("", text))
    if cleaned != text:
        page.write_text(cleaned)
LOADS = re.compile(r"<(?:script|img|iframe|source)\b[^>]*\bsrc\s*=\s*[\"']?(https?://[^\"'\s>]+)"
                   r"|<link\b[^>]*\bhref\s*=\s*[\"']?(https?://[^\"'\s>]+)", re.I)
index = (out / "index.html").read_text()
outside = sorted({a or b for a, b in LOADS.findall(index)})
if outside or "googletagmanager" in index:
    sys.exit(f"report: {out}/index.html would still load from outside: "
             f"{', '.join(outside) or 'googletagmanager'}")
EOF

echo "report: $OUT/index.html (history: $HISTORY)"
echo "report: to view it (it needs http, not file://):"
echo "    python3 -m http.server --bind 127.0.0.1 -d $OUT 8000    # then open http://127.0.0.1:8000/"
