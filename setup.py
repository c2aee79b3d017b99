# The cffi module (kvmnet._native) is built from native/; everything else is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
