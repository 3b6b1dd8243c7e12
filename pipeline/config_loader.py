"""Reading a config: YAML files merged in order, `key=value` overrides, and the plain data
coerced into pipeline/config.py's dataclass tree, strictly (an unknown key or a value of the
wrong type is a `ConfigError` naming the file and the key)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Tuple

import yaml

from pipeline.config import ConfigError, PipelineConfig, is_uri
from trainer.settings import from_dict


def load_config(
    paths: str | os.PathLike | Sequence[str | os.PathLike], overrides: Sequence[str] = ()
) -> PipelineConfig:
    """Reads YAML configs, applies `key.sub=value` overrides and validates the result.

    Several files are merged in order, later ones winning key by key (lists are replaced, not
    appended), so a runner's settings (e.g. configs/beam/dataflow.yaml) can be layered on a
    pipeline config. Relative paths in the files (data root, output dir, schema) are taken
    relative to the current directory, as a user typing them on the command line would
    expect; URIs such as gs://bucket/data are kept as they are.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    raw: dict = {}
    for path in paths:
        _merge(raw, _read_yaml(path))
    for override in overrides:
        _apply_override(raw, override)
    try:
        config = config_from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{' + '.join(str(p) for p in paths)}: {error}") from None
    return absolute_paths(config)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; see configs/ for examples")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return raw


def _merge(base: dict, update: Mapping) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def config_from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    """Builds and validates a `PipelineConfig` from plain data (as parsed from YAML)."""
    config = from_dict(PipelineConfig, raw)
    config.validate()
    return config


def _apply_override(raw: dict, override: str) -> None:
    set_value(raw, *parse_override(override))


def parse_override(override: str) -> Tuple[str, Any]:
    """`section.key=value` -> (`section.key`, the value as YAML reads it)."""
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r}: expected the form section.key=value")
    return key, yaml.safe_load(value)


def set_value(raw: dict, key: str, value: Any) -> None:
    """Sets the dotted `key` in plain config data, making the sections it lacks."""
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {part!r} is not a section")
    node[leaf] = value


def absolute_paths(config: PipelineConfig) -> PipelineConfig:
    """The config with its local paths made absolute from the current directory."""

    def absolute(path: str) -> str:
        return path if not path or is_uri(path) else os.path.abspath(path)

    return dataclasses.replace(
        config,
        output_dir=absolute(config.output_dir),
        schema_file=absolute(config.schema_file),
        data=dataclasses.replace(config.data, root=absolute(config.data.root)),
    )
