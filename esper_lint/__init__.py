"""esper-lint: lint and autofix ``param_estimate`` constants in PyTorch blueprint registrations."""

__version__ = "0.1.0"
