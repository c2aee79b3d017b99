// Allure 3 configuration of kvmnet's dashboard. scripts/report.sh runs allure with it and
// sets what it reads from the environment:
//   KVMNET_RESULTS_DIR  the Allure results directory being rendered (default allure-results)
//   KVMNET_HISTORY      the history file (JSONL, one line a run) that trends are built from
//   KVMNET_FLEET        set by scripts/fleet.sh: the results are a fleet's, merged
//                       (kvmnet/fleet/merge.py), and each host and kernel is an environment
//
// It imports nothing from allure (the config is a plain object; allure's defineConfig only
// returns it), so it loads wherever allure itself is installed.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const resultsDir = process.env.KVMNET_RESULTS_DIR || "allure-results";
const fleet = Boolean(process.env.KVMNET_FLEET);

// The values of the `fault` label that fixtures/verdicts.py adds to every check that did not
// simply pass; each is a category of the report, named after it, in this order.
const FAULTS = [
  "host path",
  "built-in VMM",
  "QEMU",
  "host or built-in VMM",
  "host or QEMU",
  "suite could not set up",
  "performance regression",
  "threshold breached",
  "known Linux behaviour",
  "known QEMU behaviour",
  "host lacks",
];

const exactly = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);

// allure-pytest writes an XFAIL as `skipped` with its message starting "XFAIL <reason>", and
// a requirement skip's message starts "host lacks " (fixtures/requirements.py): these find
// them even in results written before the `fault` label existed.
const BY_MESSAGE = {
  "known QEMU behaviour": { statuses: ["skipped"], message: /^XFAIL known QEMU behaviour/ },
  "known Linux behaviour": { statuses: ["skipped"], message: /^XFAIL (?!known QEMU)/ },
  "host lacks": { statuses: ["skipped"], message: /^(Skipped: )?host lacks / },
};

const categories = FAULTS.map((fault) => ({
  id: `fault-${fault.replace(/[^A-Za-z0-9]+/g, "-")}`,
  name: fault,
  matchers: [{ labels: { fault: exactly(fault) } }, ...(BY_MESSAGE[fault] ? [BY_MESSAGE[fault]] : [])],
}));
// A fleet's hosts that brought no results back have one result saying why (kvmnet/fleet):
// their verdict is their `fault`, a category of its own.
if (fleet) {
  for (const verdict of ["unreachable", "set-up failed", "not gated"]) {
    categories.push({
      id: `fleet-${verdict.replace(/[^A-Za-z0-9]+/g, "-")}`,
      name: `host ${verdict}`,
      matchers: [{ labels: { fault: exactly(verdict) } }],
    });
  }
}
// Allure appends its default "Product errors" (failed) and "Test errors" (broken) after these.

// Every kvmnet result carries the label kernel=<uname -r> (a lab run's, the lab kernel's): one
// report environment per kernel found in the results, so runs before and after a kernel
// upgrade, or in the kernel lab, sit side by side. A fleet's are per host and kernel: the
// merge set each result's label host=<its inventory name>.
function kernels(dir) {
  const found = new Set();
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of names.filter((n) => n.endsWith("-result.json"))) {
    try {
      const result = JSON.parse(readFileSync(join(dir, name), "utf8"));
      const labels = result.labels ?? [];
      const value = (name) => labels.find((l) => l.name === name)?.value;
      if (fleet) {
        const [host, kernel] = [value("host"), value("kernel")];
        if (host && kernel) found.add(JSON.stringify([host, kernel]));
        continue;
      }
      for (const label of labels) {
        if (label.name === "kernel" && label.value) found.add(label.value);
      }
    } catch {
      // a half-written or foreign file: allure itself decides what to make of it
    }
  }
  return found;
}

const found = [...kernels(resultsDir)].sort();
const releases = fleet ? [...new Set(found.map((pair) => JSON.parse(pair)[1]))].sort() : found;
const hosts = fleet ? [...new Set(found.map((pair) => JSON.parse(pair)[0]))] : [];
// The report is named after what it judged: "kvmnet: kernel 6.1.0-47-amd64", or the kernels of
// a report that holds several; a fleet's after its hosts.
const kernelsSaid = `kernel${releases.length > 1 ? "s" : ""} ${releases.join(", ")}`;
const reportName = fleet
  ? `kvmnet fleet: ${hosts.length} host${hosts.length === 1 ? "" : "s"}, ${kernelsSaid}`
  : releases.length
    ? `kvmnet: ${kernelsSaid}`
    : "kvmnet";

const environments = {};
const has = (labels, name, value) => labels.some((l) => l.name === name && l.value === value);
for (const entry of found) {
  const [host, release] = fleet ? JSON.parse(entry) : [null, entry];
  const said = fleet ? `${host}, kernel ${release}` : `kernel ${release}`;
  const id = (fleet ? `host-${host}-kernel-${release}` : `kernel-${release}`)
    .replace(/[^A-Za-z0-9_-]/g, "_")
    .slice(0, 64);
  environments[id] = {
    name: said.slice(0, 64),
    matcher: ({ labels }) =>
      has(labels, "kernel", release) && (!fleet || has(labels, "host", host)),
  };
}

// Each performance figure (fixtures/perf.py writes one *-perf.json per figure) is grouped on
// the Metrics page by the first word of its name (kvmnet/perf/catalogue.py).
const performance = {
  groups: {
    host: { title: "the host alone (no guest)" },
    kvm: { title: "KVM's primitives" },
    guest: { title: "the guest's paths" },
  },
};

export default {
  name: reportName,
  ...(process.env.KVMNET_HISTORY ? { historyPath: process.env.KVMNET_HISTORY } : {}),
  plugins: {
    awesome: { options: { reportName, reportLanguage: "en", singleFile: false } },
  },
  environments,
  categories,
  performance,
};
