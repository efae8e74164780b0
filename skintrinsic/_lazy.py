"""Lazy public namespaces: a package lists its names, and modules load on first use.

This keeps ``import skintrinsic`` cheap: torch and matplotlib are imported only
when a name that needs them is first used.
"""

import importlib


def attach(package, names, submodules=()):
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict of str to str
        Public name -> private module (relative to ``package``) that defines it.
    submodules : tuple of str
        Subpackages reachable as attributes.
    """
    public = sorted(names) + list(submodules)

    def __getattr__(name):
        if name in names:
            module = importlib.import_module(f".{names[name]}", package)
            return getattr(module, name)
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return public

    return __getattr__, __dir__, public
