"""Package discovery, automatic: the design card keeps flows/, tasks/ and models/ at the repository root; they
install as sub-packages of one `embedlab` namespace, with every sub-package below them found on disk (a new one
needs no edit anywhere). Everything else about the package is in pyproject.toml."""

from setuptools import find_packages, setup

ROOTS = {"embedlab": "embedlab", "embedlab.flows": "flows", "embedlab.tasks": "tasks", "embedlab.models": "models"}

setup(
    package_dir=ROOTS,
    packages=[*ROOTS, *(f"{name}.{sub}" for name, folder in ROOTS.items() for sub in find_packages(folder))],
)
