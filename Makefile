# The two commands a newcomer needs (README.md): `make conformance` and `make test`.
# Both set the checkout up first (scripts/setup.sh: quick when nothing changed).
PYTEST = .venv/bin/pytest
ARGS ?=
# The candidate kernel `make lab` runs the conformance suite in (README: "The kernel lab").
KERNEL ?= linux-image-6.1.0-47-amd64-unsigned
# What `make lab-linux` runs with the lab kernel itself as the guest, on both runners
# (README: "Linux guests"): the checks Linux's own NIC drivers can take part in.
LINUX_CHECKS ?= conformance/test_delivery.py conformance/test_rx_filters.py \
	conformance/test_nic_interrupts.py conformance/test_offloads.py
# What `make report` renders, and where (README: "The dashboard").
RESULTS ?= allure-results
REPORT ?= allure-report
# How long `make fuzz` fuzzes each NIC model's C core (tests/fuzz/), in seconds, one after
# the other; what they find is in build/fuzz/artifacts/<model>/, their corpus grows in
# build/fuzz/corpus/<model>/.
FUZZ_SECONDS ?= 600
FUZZ_MODELS ?= e1000 rtl8139 virtio_net
# The inventory `make fleet` gates, host by host (README: "Many hosts"): an Ansible
# inventory whose group kvm_hosts holds them, e.g. a copy of ansible/inventory.example.yml.
INVENTORY ?=

.PHONY: conformance test lab lab-linux report setup clean fuzz fleet

conformance: setup
	$(PYTEST) -n auto conformance/ $(ARGS)

test: setup
	$(PYTEST) -n auto tests/ --kvmnet-allure-dir=build/allure-tests $(ARGS)

lab: setup
	$(PYTEST) -n auto conformance/ --kvmnet-kernel $(KERNEL) $(ARGS)

lab-linux: setup
	$(PYTEST) $(LINUX_CHECKS) --kvmnet-kernel $(KERNEL) --kvmnet-guest linux \
	  --kvmnet-frames 2000 $(ARGS)

fuzz: setup
	$(MAKE) -s -C tests/fuzz
	@for model in $(FUZZ_MODELS); do \
	  mkdir -p build/fuzz/corpus/$$model build/fuzz/artifacts/$$model && \
	  build/fuzz/fuzz_$$model -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$model/ \
	    build/fuzz/corpus/$$model tests/fuzz/corpus/$$model || exit 1; \
	done

report:
	@scripts/report.sh $(RESULTS) $(REPORT)

fleet: setup
	@test -n "$(INVENTORY)" || { echo "make fleet INVENTORY=<an Ansible inventory>" >&2; exit 2; }
	@scripts/fleet.sh $(INVENTORY) $(ARGS)

setup:
	@scripts/setup.sh

clean:
	rm -rf .venv allure-results lab-results kvmnet/_native*.so build *.egg-info
