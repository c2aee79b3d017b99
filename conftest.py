# Loads kvmnet's pytest plugin for everything under this directory (conformance/, tests/).
pytest_plugins = ["fixtures.plugin"]
