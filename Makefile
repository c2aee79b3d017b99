# The two commands a newcomer needs (README.md): `make conformance` and `make test`.
# Both set the checkout up first (scripts/setup.sh: quick when nothing changed).
PYTEST = .venv/bin/pytest
ARGS ?=
# The candidate kernel `make lab` runs the conformance suite in (README: "The kernel lab").
KERNEL ?= linux-image-6.1.0-47-amd64-unsigned
# What `make report` renders, and where (README: "The dashboard").
RESULTS ?= allure-results
REPORT ?= allure-report

.PHONY: conformance test lab report setup clean

conformance: setup
	$(PYTEST) -n auto conformance/ $(ARGS)

test: setup
	$(PYTEST) -n auto tests/ --kvmnet-allure-dir=build/allure-tests $(ARGS)

lab: setup
	$(PYTEST) -n auto conformance/ --kvmnet-kernel $(KERNEL) $(ARGS)

report:
	@scripts/report.sh $(RESULTS) $(REPORT)

setup:
	@scripts/setup.sh

clean:
	rm -rf .venv allure-results lab-results kvmnet/_native*.so build *.egg-info
