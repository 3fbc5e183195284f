"""A scope cannot be forgotten: no function in gridgov gives a parameter named ``scope`` (or typed
``AreaScope``) a default. A route that forgot to pass the caller's scope would otherwise read the whole
district; code that means the whole district says so at the call site (``scope=WHOLE_DISTRICT``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import gridgov


def _modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(gridgov.__path__, prefix="gridgov."):
        if ".migrations" in info.name:
            continue  # Alembic revision scripts: no scopes, and not importable on their own
        yield importlib.import_module(info.name)


def _callables(module: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Functions defined in ``module``, and the methods (``__init__`` included) of its classes."""
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield f"{module.__name__}.{name}", value
        elif inspect.isclass(value):
            for attr, member in vars(value).items():
                function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                if inspect.isfunction(function):
                    yield f"{module.__name__}.{name}.{attr}", function


def _is_scope(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return parameter.name == "scope" or "AreaScope" in str(text)


def defaulted_scopes() -> list[str]:
    found = []
    for module in _modules():
        for name, function in _callables(module):
            try:
                parameters = inspect.signature(function).parameters.values()
            except (TypeError, ValueError):
                continue
            found += [
                f"{name}({p.name}={p.default!r})"
                for p in parameters
                if p.default is not inspect.Parameter.empty and _is_scope(p)
            ]
    return found


def test_no_scope_parameter_has_a_default() -> None:
    assert defaulted_scopes() == []


def test_the_check_sees_the_functions_it_guards() -> None:
    """The walk over the package does reach the service functions (a walk that saw nothing would pass)."""
    names = {name for module in _modules() for name, _f in _callables(module)}
    assert {
        "gridgov.events.service.get_event",
        "gridgov.events.service.likely_duplicates",
        "gridgov.events.service.likely_duplicates_of",
        "gridgov.events.service.Actor.__init__",
        "gridgov.registry.service.get_person",
    } <= names
