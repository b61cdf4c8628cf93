"""One registry for every family of "a name for a thing with parameters": losses, merge methods, image–text
objectives, CIR combiners, training formats (and the families to come: retrievers, rerankers, LLM back-ends).

A `Registry` maps names to entries. An entry is the thing itself or, so that listing the names never imports torch
(the CLI's `--help`, params.yaml's defaults), the text `"module:attribute"`, imported on first use. Each family says
how to read an entry's parameters (a pydantic model; none by default) and its documentation (its docstring by
default). Adding a method is one file plus one line in its family's registry; tests iterate over the registries.
Imports nothing of embedlab but `errors`, so that `models/` may use it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from embedlab.errors import UserError, unknown_name

E = TypeVar("E")


class NoParams(BaseModel):
    """No parameters: any key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def no_params(entry: Any) -> type[BaseModel]:
    """The parameters of an entry that has none."""
    return NoParams


def own_doc(entry: Any) -> str | None:
    """The entry's own docstring (a class's, not one inherited from its base)."""
    return inspect.cleandoc(entry.__doc__) if entry.__doc__ else None


def module_doc(defined: Any) -> str | None:
    """The docstring of the module that defines the function or class `defined` (a method's file documents it)."""
    return inspect.getdoc(sys.modules[defined.__module__])


@cache
def signature_params(function: Callable[..., Any], shared: frozenset[str]) -> type[BaseModel]:
    """A pydantic model of `function`'s own keyword parameters: every parameter but `shared` and `*args`/`**kwargs`,
    with its annotation and default (a loss's options, e.g. `angular_margin: float = 0.17`). Unknown keys are
    errors; the model's docstring is the function's."""
    hints = typing.get_type_hints(function)
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in shared or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (hints.get(parameter.name, Any), default)
    return create_model(f"{function.__name__}_params", __config__=ConfigDict(extra="forbid", frozen=True),
                        __doc__=function.__doc__, **fields)


class Registry(Generic[E]):
    """Names -> entries of one family (`kind`, e.g. "merge method"), in registration order.

    Args:
        kind: the family's name in messages ("unknown merge method 'tie'; did you mean 'ties'?").
        entries: name -> entry, or name -> "module:attribute" (imported by `get`, once).
        params: entry -> its pydantic parameter model (default: no parameters).
        doc: entry -> its documentation (default: its own docstring).
    """

    def __init__(self, kind: str, entries: Mapping[str, E | str], *,
                 params: Callable[[E], type[BaseModel]] = no_params,
                 doc: Callable[[E], str | None] = own_doc) -> None:
        self.kind = kind
        self._entries: dict[str, E | str] = dict(entries)
        self._params = params
        self._doc = doc

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def check(self, name: str) -> str:
        """`name` itself if registered (nothing is imported); UserError with a "did you mean" otherwise."""
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        return name

    def get(self, name: str) -> E:
        """The entry registered as `name` (imported on first use); UserError with a "did you mean" otherwise."""
        entry = self._entries[self.check(name)]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            self._entries[name] = entry
        return entry

    def params_model(self, name: str) -> type[BaseModel]:
        """The pydantic model of entry `name`'s parameters."""
        return self._params(self.get(name))

    def params(self, name: str, values: Mapping[str, Any], where: str | None = None) -> Any:
        """`values` validated as entry `name`'s parameters (an instance of `params_model(name)`).

        A one-line UserError otherwise, naming `where` the values come from (e.g. "cse.options"), the key, the
        problem, the value given and the known parameters.
        """
        model = self.params_model(name)
        try:
            return model.model_validate(dict(values))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "parameters"
            known = ", ".join(field.alias or field_name for field_name, field in model.model_fields.items())
            prefix = f"{where}: " if where else ""
            raise UserError(f"{prefix}{self.kind} {name!r}: {key}: {first['msg']} (got {first.get('input')!r}; "
                            f"parameters: {known or 'none'})") from None

    def doc(self, name: str) -> str:
        """Entry `name`'s documentation ("" if it has none)."""
        return self._doc(self.get(name)) or ""

    def choices(self) -> str:
        """The names for a `--help` text: "a | b | c"."""
        return " | ".join(self.names)

    def subset(self, kind: str, names: Collection[str]) -> Registry[E]:
        """A registry of some of these entries under another kind (e.g. the losses that are CSE objectives)."""
        return Registry(kind, {name: self._entries[self.check(name)] for name in names},
                        params=self._params, doc=self._doc)

    def register(self, name: str, entry: E | str) -> None:
        """Add an entry at run time (a plug-in, a test); a name already taken is an error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove entry `name` (UserError with a "did you mean" if there is none)."""
        del self._entries[self.check(name)]


def name_check(registry: Registry[Any]) -> Callable[[str], str]:
    """A pydantic validator of a field naming an entry of `registry`: the did-you-mean message as a ValueError, so
    that params.yaml's reader names the key (e.g. `train_cir.combiner: Value error, unknown combiner 'mpl'; ...`)."""

    def check(name: str) -> str:
        try:
            return registry.check(name)
        except UserError as error:
            raise ValueError(str(error)) from None

    return check


def names_check(kind: str, known: Collection[str]) -> Callable[[list[str]], list[str]]:
    """A pydantic validator of a list field whose every item is one of `known` names of a `kind` (e.g. the variants
    `sql.variants` runs): `unknown_name`'s did-you-mean message as a ValueError, as `name_check` gives it."""

    def check(names: list[str]) -> list[str]:
        for name in names:
            if name not in known:
                raise ValueError(str(unknown_name(kind, name, known)))
        return names

    return check
