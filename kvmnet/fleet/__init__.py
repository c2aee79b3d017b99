"""A fleet of hosts gated together: what the Ansible role (ansible/roles/kvmnet_gate) brings
back from each host, merged into one dashboard and one table. No pytest, no Ansible import:
the role runs the suite and writes files; this reads them.

The controller's results directory (`fleet-results/` by default, scripts/fleet.sh):

    fleet.json                   the play's hosts in order (the role, each wave)
    kvmnet-checkout.tar.gz       the checkout each host installs (bundle.py, each wave)
    allure-results/              every host's Allure results, merged (merge.py)
    <host>/status.json           what the role saw: state (started, unreachable, setting up,
                                 set-up failed, running, ran), detail, kernel, nodename, the
                                 KVM device and whether it exists, the suite's exit code,
                                 whether a baseline was given
    <host>/setup.log             scripts/setup.sh's output on that host
    <host>/output.txt            the suite's terminal output (its verdict and figures tables)
    <host>/allure-results/       its Allure results
    <host>/junit.xml             its JUnit XML
    <host>/figures.json          its figures (where a perf check ran)
    <host>/baseline-used.json    the baseline this run was compared with, as sent
    <host>/baseline.json         the figures of the host's last run that passed the gate:
                                 its next run's --kvmnet-baseline; kept across runs

A host of fleet.json without a status.json was never reached by the rollout: its wave did
not start (an earlier one failed), and it says so.
"""
