"""The custseg version, in a module of its own.

Modules that write the version into their outputs (the model file, the
report, the comparison) import it from here rather than from the package
root, which is the public facade on top of every other module.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
