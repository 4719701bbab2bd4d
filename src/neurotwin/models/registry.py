"""Registries of cores, readouts and whole models, and :func:`create_model`.

A new part is one class plus one decorator::

    @dataclass(frozen=True)
    class TinyCoreConfig:
        channels: int = 8

    @register_core("tiny")
    class TinyCore(Core):
        config_class = TinyCoreConfig
        ...

    @register_model("tiny-twin", description="a tiny core and a Gaussian readout")
    def tiny_twin() -> TwinConfig:
        return TwinConfig(core_type="tiny", core=TinyCoreConfig())

A model registered from a function returning a configuration is built by the class
registered for that configuration's type with :func:`register_builder` (the composed
:class:`~neurotwin.models.twin.Twin` registers itself for
:class:`~neurotwin.models.twin.TwinConfig`); a model registered from a
:class:`~neurotwin.models.base.TwinModule` subclass (with a ``config_class`` attribute and
``__init__(self, infos, config)``) is built by that class. The registry knows no
composition itself, so no model module has to be imported by it; the built-in models
(:mod:`neurotwin.models.baselines`) are imported on the first look-up.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from neurotwin.config import apply_overrides, register_section_resolver
from neurotwin.errors import NeurotwinError
from neurotwin.models.base import TwinModule
from neurotwin.models.info import RecordingInfo

T = TypeVar("T")

#: Names reserved for models that cannot be created from infos alone.
RESERVED = ("ensemble",)
#: Modules whose import registers the built-in cores, readouts and models.
BUILTINS = ("neurotwin.models.baselines", "neurotwin.models.video_dwise")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name
        Registry name.
    default_config
        Returns the model's default configuration.
    build
        Builds the model from infos and a configuration.
    description
        One line for listings.
    """

    name: str
    default_config: Callable[[], Any]
    build: Callable[[Mapping[str, RecordingInfo], Any], TwinModule]
    description: str = ""
    origin: str = ""


_CORES: dict[str, type] = {}
_READOUTS: dict[str, type] = {}
_MODELS: dict[str, ModelEntry] = {}
_BUILDERS: dict[type, Callable[[Mapping[str, RecordingInfo], Any], TwinModule]] = {}


def _builtins() -> None:
    """Import the modules that register the built-in parts (a no-op once imported)."""
    for module in BUILTINS:
        importlib.import_module(module)


def _unknown(kind: str, name: str, known: Mapping[str, Any]) -> NeurotwinError:
    guess = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return NeurotwinError(f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(known))}")


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def _check_part(kind: str, name: str, cls: type, table: dict[str, type]) -> None:
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"{kind} {name!r}: {cls.__name__}.config_class must be a dataclass")
    if name in table and _origin(table[name]) != _origin(cls):
        raise NeurotwinError(f"a {kind} named {name!r} is already registered")


def register_core(name: str) -> Callable[[type[T]], type[T]]:
    """Register a core class under ``name``.

    The class derives from :class:`~neurotwin.models.cores.Core`, has a dataclass
    ``config_class`` and is built as ``cls(config, input_channels)``.
    """

    def decorate(cls: type[T]) -> type[T]:
        _check_part("core", name, cls, _CORES)
        _CORES[name] = cls
        return cls

    return decorate


def register_readout(name: str) -> Callable[[type[T]], type[T]]:
    """Register a readout class under ``name``.

    The class derives from :class:`~neurotwin.models.readouts.Readout`, has a dataclass
    ``config_class`` and is built as ``cls(config, info, in_channels, in_hw)``.
    """

    def decorate(cls: type[T]) -> type[T]:
        _check_part("readout", name, cls, _READOUTS)
        _READOUTS[name] = cls
        return cls

    return decorate


def get_core(name: str) -> type:
    """Return the core class registered as ``name``."""
    _builtins()
    if name not in _CORES:
        raise _unknown("core", name, _CORES)
    return _CORES[name]


def get_readout(name: str) -> type:
    """Return the readout class registered as ``name``."""
    _builtins()
    if name not in _READOUTS:
        raise _unknown("readout", name, _READOUTS)
    return _READOUTS[name]


def list_cores() -> list[str]:
    """Names of the registered cores."""
    _builtins()
    return sorted(_CORES)


def list_readouts() -> list[str]:
    """Names of the registered readouts."""
    _builtins()
    return sorted(_READOUTS)


register_section_resolver("core", lambda name: get_core(name).config_class)  # type: ignore[attr-defined]
register_section_resolver("readout", lambda name: get_readout(name).config_class)  # type: ignore[attr-defined]


B = TypeVar("B", bound=Callable[..., TwinModule])


def register_builder(config_class: type) -> Callable[[B], B]:
    """Register what builds models whose configuration is a ``config_class``.

    A model registered from a function returning a ``config_class`` instance is then built
    as ``builder(infos, config)``; :class:`~neurotwin.models.twin.Twin` registers itself
    for :class:`~neurotwin.models.twin.TwinConfig` this way.

    Parameters
    ----------
    config_class
        A dataclass.
    """
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"{config_class!r} is not a dataclass")

    def decorate(builder: B) -> B:
        known = _BUILDERS.get(config_class)
        if known is not None and _origin(known) != _origin(builder):
            raise NeurotwinError(f"{config_class.__name__} already has a builder")
        _BUILDERS[config_class] = builder
        return builder

    return decorate


def _build_composition(infos: Mapping[str, RecordingInfo], config: Any) -> TwinModule:
    builder = _BUILDERS.get(type(config))
    if builder is None:
        raise NeurotwinError(
            f"no model class builds a {type(config).__name__}; register one with "
            "register_builder (known: "
            f"{', '.join(sorted(c.__name__ for c in _BUILDERS)) or 'none'})"
        )
    return builder(infos, config)


def register_model(
    name: str, *, description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model under ``name``.

    Decorate either a function of no arguments returning a configuration whose class has a
    builder (:func:`register_builder`; a :class:`~neurotwin.models.twin.TwinConfig`
    composes registered parts into a :class:`~neurotwin.models.twin.Twin`), or a
    :class:`~neurotwin.models.base.TwinModule` subclass with a dataclass ``config_class``
    and ``__init__(self, infos, config)``.

    Parameters
    ----------
    name
        Registry name, used by :func:`create_model` and saved with the model.
    description
        One line shown by listings (defaults to the first docstring line).
    """
    if name in RESERVED:
        raise NeurotwinError(f"{name!r} is reserved")

    def decorate(obj: Callable[..., Any]) -> Callable[..., Any]:
        doc = (obj.__doc__ or "").strip().splitlines()
        text = description or (doc[0] if doc else "")
        if isinstance(obj, type):
            if not issubclass(obj, TwinModule):
                raise TypeError(f"model {name!r}: {obj.__name__} must derive from TwinModule")
            config_class = getattr(obj, "config_class", None)
            if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
                raise TypeError(f"model {name!r}: {obj.__name__}.config_class must be a dataclass")
            entry = ModelEntry(name, config_class, obj, text, _origin(obj))
        else:
            entry = ModelEntry(name, obj, _build_composition, text, _origin(obj))
        if name in _MODELS and _MODELS[name].origin != entry.origin:
            raise NeurotwinError(f"a model named {name!r} is already registered")
        _MODELS[name] = entry
        return obj

    return decorate


def model_entry(name: str) -> ModelEntry:
    """Return the registry entry of ``name`` (error with a did-you-mean when unknown)."""
    _builtins()
    if name not in _MODELS:
        raise _unknown("model", name, _MODELS)
    return _MODELS[name]


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    _builtins()
    return sorted(_MODELS)


def describe_models() -> dict[str, str]:
    """``{name: one-line description}`` of the registered models."""
    _builtins()
    return {name: _MODELS[name].description for name in sorted(_MODELS)}


def default_config(name: str) -> Any:
    """Return the default configuration of model ``name``."""
    return model_entry(name).default_config()


def build_model(name: str, infos: Mapping[str, RecordingInfo], config: Any) -> TwinModule:
    """Build model ``name`` from a complete configuration (no overrides)."""
    entry = model_entry(name)
    model = entry.build(infos, config)
    model.name = name
    model.config = config
    return model


def create_model(name: str, infos: Mapping[str, RecordingInfo], **config: Any) -> TwinModule:
    """Create a registered model for some recordings.

    Parameters
    ----------
    name
        A name from :func:`list_models` (``"sensorium"``, ``"sensorium+"``...).
    infos
        ``{recording_key: RecordingInfo}`` (see :func:`~neurotwin.models.recording_infos`).
    **config
        Overrides of the model's default configuration: a field by name
        (``hidden_channels=32``), a section as a dict (``core={"layers": 3}``), a dotted
        path (``**{"readout.init_sigma": 0.2}``), or a section switch (``shifter=True``).

    Returns
    -------
    TwinModule
        A freshly initialised model with ``name`` and ``config`` set.

    Raises
    ------
    NeurotwinError
        An unknown model, or a config field that is unknown (the message lists the known
        fields and a close match) or has the wrong type.
    """
    entry = model_entry(name)
    cfg = apply_overrides(entry.default_config(), config, where=name)
    return build_model(name, infos, cfg)
