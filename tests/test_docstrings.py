"""Every public docstring passes numpydoc's validator.

What is public: each class and function in ``skhyper.__all__``, the public
methods and properties that skhyper itself defines on those classes, and
the functions of ``skhyper.datasets``. Methods inherited from scikit-learn
(``set_params``, ``score``, ``set_output``, the metadata-routing
``set_*_request`` ...) or from Python's exceptions carry their docstrings
from there and are not checked; the documentation site leaves them out for
the same reason (``docs/conf.py``). A name added to ``__all__`` is checked
without editing this file.
"""

from __future__ import annotations

import inspect
from textwrap import dedent

import numpydoc.validate
import pytest

import skhyper
import skhyper.datasets

# Codes ignored everywhere, each with its reason.
IGNORED_EVERYWHERE = {
    # scikit-learn's convention names a single return value
    # ("self : object", "y_pred : ndarray of shape ..."), so that the text
    # can refer to it; RT02 wants the type alone.
    "RT02",
}

# Codes ignored on methods and properties only: the class docstring carries
# the extended description, the cross-references and a worked example that
# fits and predicts; repeating them on every method would add a fit per
# method to the doctest run and say nothing new.
IGNORED_ON_MEMBERS = {"ES01", "SA01", "EX01"}


def _is_own(member: object) -> bool:
    """Whether skhyper defines ``member`` (rather than inheriting it)."""
    function = member.fget if isinstance(member, property) else member
    return (getattr(function, "__module__", None) or "").startswith("skhyper")


def _public_objects() -> list[tuple[str, bool]]:
    """(import path, is a member of a class) of everything checked."""
    names = []
    for name in skhyper.__all__:
        obj = getattr(skhyper, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants such as tuples have their type's docstring
        names.append((f"skhyper.{name}", False))
        if inspect.isclass(obj):
            names.extend(
                (f"skhyper.{name}.{member_name}", True)
                for member_name, member in inspect.getmembers(obj)
                if not member_name.startswith("_") and _is_own(member)
            )
    names.extend(
        (f"skhyper.datasets.{name}", False)
        for name, function in inspect.getmembers(skhyper.datasets, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == "skhyper.datasets"
    )
    return names


PUBLIC_OBJECTS = _public_objects()


def test_the_checked_objects_cover_the_public_api():
    """The list is not empty by accident and reaches methods and datasets."""
    checked = {name for name, _ in PUBLIC_OBJECTS}
    assert {
        "skhyper.HyperNetworkClassifier",
        "skhyper.HyperNetworkClassifier.fit",
        "skhyper.HyperNetworkClassifier.generated_weights",
        "skhyper.ConcatRegressor.predict",
        "skhyper.TrainingDivergedError",
        "skhyper.datasets.make_sensor_data",
    } <= checked
    # Inherited from scikit-learn: documented there, not checked here.
    assert "skhyper.HyperNetworkClassifier.set_params" not in checked


@pytest.mark.parametrize(
    ("import_path", "is_member"), PUBLIC_OBJECTS, ids=[n for n, _ in PUBLIC_OBJECTS]
)
def test_docstring_passes_numpydoc_validation(import_path, is_member):
    result = numpydoc.validate.validate(import_path)
    ignored = IGNORED_EVERYWHERE | (IGNORED_ON_MEMBERS if is_member else set())
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in ignored
    ]
    assert not errors, f"{import_path}:\n" + "\n".join(errors)


WRITTEN = """Title.

    Parameters
    ----------
    b : int
        The second.
    a : int
        The first.

    Attributes
    ----------
    x_ : int
        Learned.
    """


@pytest.mark.parametrize("compiled_by", ["python<3.13", "python>=3.13"])
def test_shared_sections_are_ordered_whatever_strips_the_indentation(compiled_by):
    """Python 3.13 strips a docstring's common indentation when it compiles
    it, and the parameter reordering looked for an indented section title:
    ``import skhyper`` failed there ("not enough values to unpack")."""
    from skhyper._architectures import (
        _indented_as_written,
        _parameters_in_signature_order,
    )

    first, _, rest = WRITTEN.partition("\n")
    doc = WRITTEN if compiled_by == "python<3.13" else f"{first}\n{dedent(rest)}"
    ordered = _parameters_in_signature_order(_indented_as_written(doc), ["a", "b"])
    assert ordered.index("    a : int") < ordered.index("    b : int")
    assert "\n    Attributes\n    ----------\n    x_ : int\n" in ordered
