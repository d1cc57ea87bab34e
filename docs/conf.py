"""Sphinx configuration of the skhyper documentation site.

Build it from the repository root::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

``SKHYPER_SMOKE=1`` in the environment runs the gallery's examples in their
smoke mode (few folds, 2 epochs), as CI does; without it they run in full
(a gallery built in the other mode is removed first).
"""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path

import skhyper

project = "skhyper"
author = "skhyper developers"
copyright = "skhyper developers"  # noqa: A001 (Sphinx's name for it)
release = skhyper.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]

# Alabaster ships with Sphinx: no theme to install.
html_theme = "alabaster"
html_theme_options = {
    "description": "Hypernetwork estimators for tables with a context column",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []

# -- API reference ----------------------------------------------------------
# The module pages list what ``__all__`` exports (see
# _templates/autosummary/module.rst), so a name added to ``skhyper.__all__``
# gets its page without editing api.rst.
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = True
# Exported names that are neither classes nor functions (the module
# template's own lists only hold those).
autosummary_context = {
    "skhyper_constants": [
        name for name in skhyper.__all__ if not callable(getattr(skhyper, name))
    ]
}
autodoc_typehints = "none"  # the numpydoc sections already give the types
# numpydoc's own member tables would list scikit-learn's methods too; the
# class template documents members, and _skip_inherited keeps skhyper's own.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _is_own(member: object) -> bool:
    """Whether ``member`` is defined in skhyper rather than inherited.

    Methods such as ``set_params`` or ``set_output`` come from
    scikit-learn, and Python's exception methods from the builtins; their
    docstrings are documented where they are defined.
    """
    function = member.fget if isinstance(member, property) else member
    return (getattr(function, "__module__", None) or "").startswith("skhyper")


def _skip_inherited(app, what, name, obj, skip, options):
    """autodoc: document skhyper's own members of a class, nothing else."""
    if what == "class" and not _is_own(obj):
        return True
    return skip


def _drop_type_docstring(app, what, name, obj, options, lines):
    """autodoc: a constant has no docstring of its own; drop its type's.

    Without this, ``TRUSTED_TYPES`` (a list) would be described by
    ``list.__doc__``.
    """
    type_doc = inspect.getdoc(type(obj)) or ""
    if what == "data" and "\n".join(lines).strip() == type_doc.strip():
        lines.clear()


def _link_readme_page(app, docname, source):
    """Point the pages' links to ``../README.md`` at the site's README page.

    The Markdown pages are also read on GitHub, where that relative link is
    right; in the site the README is ``readme.md`` (an include of it).
    """
    source[0] = source[0].replace("](../README.md", "](readme.md")


def setup(app) -> None:
    app.connect("autodoc-skip-member", _skip_inherited)
    app.connect("source-read", _link_readme_page)
    app.connect("autodoc-process-docstring", _drop_type_docstring)


# -- Markdown pages (myst-parser) -------------------------------------------
# Anchors for the "#section-title" links the pages use among themselves.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# -- Gallery (sphinx-gallery) -----------------------------------------------


def _gallery_of_this_mode(gallery: Path, smoke: bool) -> None:
    """Remove a gallery built in the other mode (smoke or full).

    sphinx-gallery runs an example again only when its source changed, so
    a full build after a smoke build in the same tree would show the smoke
    run's numbers as the full ones (and the other way round). A marker file
    records the mode each gallery was built in.
    """
    mode = "smoke" if smoke else "full"
    marker = gallery / ".skhyper-mode"
    if gallery.exists() and (not marker.exists() or marker.read_text() != mode):
        shutil.rmtree(gallery)
    gallery.mkdir(exist_ok=True)
    marker.write_text(mode)


_gallery_of_this_mode(
    Path(__file__).parent / "auto_examples",
    os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0"),
)

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # distributed_search.py starts a Dask cluster of worker processes; it is
    # shown with its code but not executed here (run it by hand, see its
    # header); so is distributed_training.py, which is meant for
    # accelerate launch; and out_of_core.py, which starts clusters too. Every
    # other example is executed, in smoke mode in CI.
    "filename_pattern": (
        r"^((?!distributed_search|distributed_training|out_of_core).)*\.py$"
    ),
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "doc_module": ("skhyper",),
    "backreferences_dir": None,
    "show_memory": False,
}
