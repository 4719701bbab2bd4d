"""Typed configurations: overrides, type checks, a JSON round trip and command-line flags.

Configurations (of models, the trainer, the simulator) are (nested, frozen) dataclasses.
:func:`apply_overrides` returns a copy with some fields replaced and accepts the spellings
a user types:

- a top-level field: ``nonlinearity="softplus"``;
- a field of a nested section by its own name when only one section has it:
  ``hidden_channels=32`` (the core's);
- a dotted path: ``**{"core.layers": 3}``;
- a whole section as a dict (``core={"layers": 3}``), as a dataclass instance, or, for a
  section with an ``enabled`` field, as a bool (``shifter=True``).

A section whose class depends on a sibling field (the core and the readout are chosen by
name from their registries) declares it in the field's metadata:
``field(metadata={"kind_field": "core_type", "registry": "core"})``; changing
``core_type`` swaps the section for the new class's defaults before other overrides apply.

Unknown names raise :class:`ConfigError` listing the known ones with a did-you-mean; values
of the wrong type raise :class:`ConfigError` naming the field and the expected type.

:func:`add_config_flags` turns a config's fields into ``argparse`` flags whose help is the
field's documentation (``field(metadata={"help": ...})`` or the class docstring's numpydoc
``Attributes`` section) and whose shown default is read from a config instance, so a
command's ``--help`` cannot drift from the config it fills; :func:`flag_overrides` collects
the flags a user gave.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from neurotwin.errors import NeurotwinError

C = TypeVar("C")

#: Config class of a registered part by name, per registry (filled by the registry module).
_resolvers: dict[str, Callable[[str], type]] = {}


class ConfigError(NeurotwinError):
    """A model configuration names an unknown field or gives a value of the wrong type."""


def register_section_resolver(registry: str, resolve: Callable[[str], type]) -> None:
    """Tell the config machinery how to find the config class of a registered part.

    Parameters
    ----------
    registry
        The name used in a field's ``metadata["registry"]`` (``"core"``, ``"readout"``).
    resolve
        Maps a registered name to its config dataclass (raising on an unknown name).
    """
    _resolvers[registry] = resolve


def _is_config(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    args = typing.get_args(annotation)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return str(annotation)


def _coerce(path: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a simple annotation, converting int to float where allowed."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        for option in typing.get_args(annotation):
            try:
                return _coerce(path, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{path} must be {_type_name(annotation)}, got {value!r}")
    if annotation is Any:
        return value
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value in allowed:
            return value
        raise ConfigError(f"{path} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if annotation is type(None):
        if value is None:
            return None
    elif origin is tuple:
        if isinstance(value, list | tuple):
            args = typing.get_args(annotation)
            item = args[0] if args else Any
            return tuple(_coerce(f"{path}[{i}]", v, item) for i, v in enumerate(value))
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise ConfigError(f"{path} must be {_type_name(annotation)}, got {value!r}")


def _section_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if _is_section(cls, f)]


def _is_section(cls: type, f: dataclasses.Field[Any]) -> bool:
    if "registry" in f.metadata:
        return True
    hint = _hints(cls)[f.name]
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def known_fields(config: Any) -> list[str]:
    """Return every name an override may use: top-level fields and dotted section fields."""
    names: list[str] = []
    for f in dataclasses.fields(config):
        names.append(f.name)
        value = getattr(config, f.name)
        if _is_config(value) and _is_section(type(config), f):
            names.extend(f"{f.name}.{sub}" for sub in known_fields(value))
    return names


def _unknown(name: str, config: Any, where: str) -> ConfigError:
    known = known_fields(config)
    candidates = list(dict.fromkeys(known + [k.rsplit(".", 1)[-1] for k in known]))
    guess = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return ConfigError(
        f"unknown {where} config field {name!r}{hint}; known fields: {', '.join(known)}"
    )


def _resolve_kind(owner: type, f: dataclasses.Field[Any], kind: str) -> type:
    registry = f.metadata["registry"]
    resolve = _resolvers.get(registry)
    if resolve is None:
        raise ConfigError(f"no {registry} registry is known (field {f.name!r})")
    return resolve(kind)


def _set_section(config: Any, f: dataclasses.Field[Any], value: Any, path: str) -> Any:
    current = getattr(config, f.name)
    if isinstance(value, bool) and _is_config(current):
        if "enabled" not in {g.name for g in dataclasses.fields(current)}:
            raise ConfigError(f"{path} is a section without an 'enabled' switch; give a dict")
        return dataclasses.replace(current, enabled=value)
    if isinstance(value, Mapping):
        return apply_overrides(current, value, where=path)
    if _is_config(value):
        if type(value) is not type(current):
            raise ConfigError(
                f"{path} must be a {type(current).__name__}, got a {type(value).__name__}"
            )
        return value
    raise ConfigError(
        f"{path} is a section ({type(current).__name__}); give a dict of its fields, got {value!r}"
    )


def apply_overrides(config: C, overrides: Mapping[str, Any], *, where: str = "model") -> C:
    """Return a copy of ``config`` with ``overrides`` applied and checked.

    Parameters
    ----------
    config
        A (frozen) dataclass instance.
    overrides
        Field names (top-level, section-unique, or dotted) mapped to new values.
    where
        Names the config in error messages (``"model"``, ``"core"``...).

    Returns
    -------
    dataclass
        A new config of the same class.

    Raises
    ------
    ConfigError
        An unknown or ambiguous field name, or a value of the wrong type.
    """
    if not _is_config(config):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return _apply(config, overrides, where)


def _apply(config: Any, overrides: Mapping[str, Any], where: str) -> Any:
    cls = type(config)
    by_name = {f.name: f for f in dataclasses.fields(config)}
    hints = _hints(cls)
    pending = dict(overrides)

    # kind fields first: changing core_type swaps the core section for the new defaults
    for f in dataclasses.fields(config):
        kind_field = f.metadata.get("kind_field")
        if kind_field and kind_field in pending:
            chosen = _coerce(f"{where}.{kind_field}", pending.pop(kind_field), hints[kind_field])
            if chosen != getattr(config, kind_field) or not isinstance(
                getattr(config, f.name), _resolve_kind(cls, f, chosen)
            ):
                section = _resolve_kind(cls, f, chosen)()
                config = dataclasses.replace(config, **{kind_field: chosen, f.name: section})

    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in pending.items():
        if not isinstance(name, str):
            raise ConfigError(f"{where} field names must be strings, got {name!r}")
        if "." in name:
            head, rest = name.split(".", 1)
            if head not in by_name or not _is_section(cls, by_name[head]):
                raise _unknown(name, config, where)
            nested.setdefault(head, {})[rest] = value
        elif name in by_name:
            f = by_name[name]
            if _is_section(cls, f):
                changes[name] = _set_section(config, f, value, f"{where}.{name}")
            else:
                changes[name] = _coerce(f"{where}.{name}", value, hints[name])
        else:
            owners = [
                f.name
                for f in _section_fields(cls)
                if _is_config(getattr(config, f.name))
                and name in {g.name for g in dataclasses.fields(getattr(config, f.name))}
            ]
            if len(owners) > 1:
                raise ConfigError(
                    f"{where} field {name!r} is ambiguous: it exists in "
                    f"{', '.join(f'{o}.{name}' for o in owners)}; "
                    f"write e.g. {owners[0]}={{{name!r}: ...}}"
                )
            if not owners:
                raise _unknown(name, config, where)
            nested.setdefault(owners[0], {})[name] = value
    for head, sub in nested.items():
        base = changes.get(head, getattr(config, head))
        changes[head] = apply_overrides(base, sub, where=f"{where}.{head}")
    out = dataclasses.replace(config, **changes)
    check = getattr(out, "validate", None)
    if callable(check):
        check()
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a JSON-able dict of a (nested) config; tuples become lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if _is_config(value):
            out[f.name] = config_to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "model") -> C:
    """Rebuild a config of class ``cls`` from :func:`config_to_dict` output (checked)."""
    return apply_overrides(cls(), data, where=where)


def field_docs(cls: type) -> dict[str, str]:
    """Return each field's documentation, as one line of plain text (no reST markup).

    A field's ``metadata["help"]`` wins; otherwise its entry in the class docstring's
    numpydoc ``Attributes`` section is used (an entry may name several fields:
    ``height, width``; an entry ``name : type`` is read by its name).

    Parameters
    ----------
    cls
        A config dataclass.

    Returns
    -------
    dict
        Field name to its documentation with whitespace collapsed; fields without any
        documentation are left out.
    """
    docs = _attribute_docs(cls.__doc__ or "")
    out: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help") or docs.get(f.name)
        if text:
            text = re.sub(r":\w+:`~?([^`]+)`", r"\1", str(text)).replace("``", "")
            out[f.name] = " ".join(text.split())
    return out


def _attribute_docs(docstring: str) -> dict[str, str]:
    """Parse the numpydoc ``Attributes`` section of a docstring into name -> text."""
    import inspect

    lines = inspect.cleandoc(docstring).splitlines()
    out: dict[str, str] = {}
    heads = [i for i, line in enumerate(lines[:-1]) if set(lines[i + 1].strip()) == {"-"}]
    starts = [i + 2 for i in heads if lines[i].strip() == "Attributes"]
    if not starts:
        return out
    start = starts[0]
    names: list[str] = []
    for i in range(start, len(lines)):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"}:
            break  # the next section's header
        if line and not line[0].isspace():
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            for name in names:
                out[name] = ""
        elif line.strip():
            for name in names:
                out[name] = f"{out[name]} {line.strip()}".strip()
    return {name: text for name, text in out.items() if text}


def _first_sentence(text: str) -> str:
    parts = re.split(r"(?<!e\.g)(?<!i\.e)(?<=\.)\s+(?=[A-Z(`])", text, maxsplit=1)
    return parts[0]


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        raise ValueError(f"not a boolean: {text!r}")
    return value in ("true", "yes", "1", "on")


def _flag_kind(annotation: Any) -> tuple[Callable[[str], Any], dict[str, Any]]:
    """Map a field's annotation to an argparse ``type`` and extra keyword arguments."""
    import argparse

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union or origin is types.UnionType:
        if len(args) == 1:
            return _flag_kind(args[0])
        options = [_flag_kind(a)[0] for a in args]

        def either(text: str) -> Any:
            for convert in options:
                try:
                    return convert(text)
                except ValueError:
                    continue
            raise ValueError(text)

        either.__name__ = " or ".join(_type_name(a) for a in args)
        return either, {}
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return type(values[0]), {"choices": values}
    if origin is tuple:
        item = typing.get_args(annotation)[0] if typing.get_args(annotation) else str
        convert, _ = _flag_kind(item)
        return convert, {"nargs": "+"}
    if annotation is bool:
        return _parse_bool, {"action": argparse.BooleanOptionalAction}
    if annotation in (int, float, str):
        return annotation, {}
    raise TypeError(f"no command-line flag expresses a value of type {annotation}")


def add_config_flags(
    parser: Any,
    cls: type,
    *,
    defaults: Any = None,
    default_label: str = "default",
    exclude: tuple[str, ...] = (),
    sections: bool = True,
) -> list[str]:
    """Add one ``--flag`` per field of a config dataclass, documented from the config.

    Every flag defaults to None, meaning "keep the config's value", so only the flags a
    user gives become overrides (see :func:`flag_overrides`). The help is the first
    sentence of the field's documentation (:func:`field_docs`) followed by the value the
    flag stands in for, read from ``defaults``: neither can drift from the config.

    Parameters
    ----------
    parser
        An :class:`argparse.ArgumentParser` or argument group.
    cls
        The config dataclass. Fields of type bool get ``--name/--no-name``, tuples take
        several values, ``Literal`` fields their choices.
    defaults
        The config instance whose values the help shows (None: ``cls()``).
    default_label
        Shown before each value: ``(default: 50)``, ``(tiny preset: 50)``.
    exclude
        Field names (of ``cls`` or of its sections) that get no flag.
    sections
        Also add the fields of nested config sections under their own names (the
        spelling :func:`apply_overrides` accepts), unless a name is taken already.

    Returns
    -------
    list of str
        The ``dest`` of every flag added (field names), for :func:`flag_overrides`.

    Raises
    ------
    TypeError
        A field that is not excluded has a type no flag can express.
    """
    config = cls() if defaults is None else defaults
    docs = field_docs(cls)
    hints = _hints(cls)
    added: list[str] = []
    nested: list[Any] = []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        value = getattr(config, f.name)
        if _is_config(value):
            if sections:
                nested.append(value)
            continue
        try:
            convert, extra = _flag_kind(hints[f.name])
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}.{f.name}: {exc}; exclude it") from exc
        shown = list(value) if isinstance(value, tuple) else value
        text = _first_sentence(docs.get(f.name, f.name.replace("_", " ")))
        if "action" not in extra:  # a switch takes no value
            extra["type"] = convert
            if "choices" not in extra:
                kind = getattr(convert, "__name__", "value")
                extra["metavar"] = kind.upper().replace(" ", "_")
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            help=f"{text} ({default_label}: {shown})".replace("%", "%%"),
            **extra,
        )
        added.append(f.name)
    for section in nested:
        taken = set(added) | set(exclude)
        names = [g.name for g in dataclasses.fields(section) if g.name not in taken]
        skip = tuple(g.name for g in dataclasses.fields(section) if g.name not in names)
        added += add_config_flags(
            parser, type(section), defaults=section, default_label=default_label, exclude=skip
        )
    return added


def flag_overrides(args: Any, names: list[str]) -> dict[str, Any]:
    """Return the flags a user gave, by field name, to pass as config overrides.

    Parameters
    ----------
    args
        The parsed :class:`argparse.Namespace`.
    names
        What :func:`add_config_flags` returned.

    Returns
    -------
    dict
        Field name to value for every flag not left at None; tuples for several values.
    """
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out
