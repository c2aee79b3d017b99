# The two commands a newcomer needs (README.md): `make conformance` and `make test`.
# Both set the checkout up first (scripts/setup.sh: quick when nothing changed).
PYTEST = .venv/bin/pytest
ARGS ?=

.PHONY: conformance test setup clean

conformance: setup
	$(PYTEST) -n auto conformance/ $(ARGS)

test: setup
	$(PYTEST) -n auto tests/ $(ARGS)

setup:
	@scripts/setup.sh

clean:
	rm -rf .venv allure-results kvmnet/_native*.so build *.egg-info
