"""Sphinx configuration for skintrinsic.

The build is offline, and so are the pages it makes: no intersphinx, no remote images,
and math is typeset by a copy of MathJax shipped in a Python package (``doc`` extra).  The
gallery reads real data from the data folder of :func:`skintrinsic.datasets.get_data_home`
(``$SKINTRINSIC_DATA_HOME``, else ``~/skintrinsic_data``; ``../shared/data`` beside the
checkout when it holds the data and nothing else is set, as for the tests).
``python -m sphinx -W -b html doc doc/_build/html`` runs every example in ``examples/``.

The source folder may be a copy of ``doc/`` (the tests build one in a temporary folder, so
that the generated ``auto_examples`` and ``gen_modules`` never land in the checkout): then
``$SKINTRINSIC_REPO`` names the checkout, whose ``examples/`` and package are used.
"""

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent
REPO = Path(os.environ.get("SKINTRINSIC_REPO") or DOC.parent).resolve()

# Set before any example runs, so that skintrinsic.datasets.get_data_home() finds the data.
_SHARED = REPO.parent / "shared" / "data"
if not os.environ.get("SKINTRINSIC_DATA_HOME") and (_SHARED / "pneumoniamnist.npz").is_file():
    os.environ["SKINTRINSIC_DATA_HOME"] = str(_SHARED)
os.environ.setdefault("MPLBACKEND", "Agg")
# 2 busy cores: one thread per process is much faster than oversubscription.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(REPO))

import skintrinsic  # noqa: E402

project = "skintrinsic"
author = "The skintrinsic developers"
copyright = "2024-2025, The skintrinsic developers"
release = skintrinsic.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.py",
                    "auto_examples/*.ipynb", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
root_doc = "index"
default_role = "literal"
nitpicky = False

# -- autodoc / autosummary / numpydoc ---------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# numpydoc lists the members itself when asked; autosummary would list them twice.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Type specs such as "ndarray of shape (n_samples_fit_,)" are parsed, not pasted as reST
# (where a trailing underscore would be a hyperlink); as in scikit-learn's own docs.
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "estimator": "sklearn.base.BaseEstimator",
    "DataFrame": "pandas.DataFrame",
    "Bunch": "sklearn.utils.Bunch",
    # numpydoc's defaults for these are links into the Python and NumPy docs, which only
    # intersphinx (a network fetch) could resolve: unresolved, they would show as
    # "python:int" or fail the build (:ref:, :term:); plain object names instead
    **{name: f":obj:`{name}`" for name in ("None", "True", "False", "int", "float", "str",
                                            "list", "tuple", "dict", "callable", "bool")},
    "boolean": ":obj:`bool`",
    "string": ":obj:`str`",
    "iterable": ":obj:`iterable <collections.abc.Iterable>`",
    "sequence": ":obj:`sequence <collections.abc.Sequence>`",
    "generator": ":obj:`generator <collections.abc.Generator>`",
    "array-like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "array_like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "scalar": ":obj:`scalar <numpy.generic>`",
}
numpydoc_xref_ignore = {
    "of", "or", "and", "shape", "default", "optional", "instance", "type", "array-like",
    "sparse", "matrix", "n_samples", "n_features", "n_classes", "n_layers", "n_points",
    "object", "sequence", "path-like", "scalar", "like", "function", "with", "any", "from",
    "to", "in", "a", "an", "the", "per", "positive", "non-negative", "nonnegative",
}



def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request & co. on every estimator; their docstrings
    # point into scikit-learn's own documentation, which this build does not fetch.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)


# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": str(DOC / "auto_examples"),
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skintrinsic",),
    # None: link to our own API pages only, resolved locally (nothing is fetched)
    "reference_url": {"skintrinsic": None},
    "backreferences_dir": str(DOC / "gen_modules" / "backreferences"),
    "download_all_examples": False,
    "plot_gallery": "True",
    # sphinx-gallery skips examples unchanged since the last build; tests/test_docs.py sets
    # SKINTRINSIC_DOCS_RERUN=1 so that every example really runs
    "run_stale_examples": os.environ.get("SKINTRINSIC_DOCS_RERUN") == "1",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    # the timing pages load jQuery and DataTables from CDNs; each example page states its
    # own running time, which tests/test_docs.py reads
    "write_computation_times": False,
    "min_reported_time": 0,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skintrinsic {release}"
html_theme_options = {
    # nothing that would need the network at build or view time
    "icon_links": [],
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False
html_copy_source = False


def _mathjax_file():
    """MathJax 3's all-in-one TeX-to-SVG script from the django-static-mathjax package.

    A PyPI package (Apache-2.0, no dependencies) that ships MathJax's files; its Django app
    is not used.  ``tex-svg-full.js`` holds every TeX extension and draws glyphs as SVG
    paths, so it loads neither extensions nor web fonts: one file, and the pages typeset
    their math with no network.  (sphinx.ext.imgmath would need a LaTeX installation.)
    """
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the docs need a local MathJax: pip install -e \".[doc]\" "
                           "(it installs django-static-mathjax)")
    path = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5" / \
        "tex-svg-full.js"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall django-static-mathjax")
    return path


_MATHJAX = _mathjax_file()
# copied into _static; a relative mathjax_path is read from there
html_static_path = ["_static", str(_MATHJAX)]
mathjax_path = _MATHJAX.name
