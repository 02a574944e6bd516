"""A config as data, with the position of every value: YAML files, mappings and OmegaConf configs.

YAML is read with ``yaml.safe_load``'s constructors (no tag that builds Python objects), but
from composed nodes, so every value keeps the line and column it was written at and an error in
it can say where. Aliases are built once and shared, as ``safe_load`` does; ``<<`` merge keys
and their positions follow the base they merge.
"""

from __future__ import annotations

import stat
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from losslang.errors import LossConfigError, key_text, shown

_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_MERGE = "tag:yaml.org,2002:merge"
# PyYAML composes recursively: deeper nesting would reach Python's recursion limit. Generous
# for any training config.
MAX_NESTING = 100
MAX_BYTES = 10 * 2**20  # a loss or training config is a few kB
Key = tuple[str | int, ...]


@dataclass
class Document:
    """Loaded config values, with the position of every node when they came from a file.

    Example:
        >>> document = Document({"loss": {"total": "mse(p, y)"}})
        >>> document.where(("loss", "total"))
        'loss.total: '
        >>> str(document.error(("loss",), "must name a total"))
        'loss: must name a total'
    """

    data: Any
    filename: str | None = None
    marks: dict[Key, yaml.Mark] = field(default_factory=dict)
    aliases: dict[Key, Key] = field(default_factory=dict)  # where an alias is used -> where its anchor is

    def where(self, path: Key) -> str:
        """The ``file:line:column: dotted.key: `` prefix of an error at ``path``."""
        dotted = ".".join(map(key_text, path)) or "the config"
        mark = self.marks.get(path)
        for depth in range(len(path), 0, -1):  # inside an alias or a merged entry, a node is written at its origin
            if mark is None and path[:depth] in self.aliases:
                mark = self.marks.get((*self.aliases[path[:depth]], *path[depth:]))
        if self.filename is None:
            return f"{dotted}: "
        if mark is None:
            return f"{self.filename}: {dotted}: "
        return f"{self.filename}:{mark.line + 1}:{mark.column + 1}: {dotted}: "

    def error(self, path: Key, reason: str) -> LossConfigError:
        """A config error at ``path``."""
        return LossConfigError(reason, where=self.where(path))


def read(path_or_mapping: str | Path | Mapping[str, Any]) -> Document:
    """Read a YAML file (with node positions), a mapping or an OmegaConf config into a :class:`Document`.

    Example:
        >>> read({"loss": "mse(p, y)"}).data
        {'loss': 'mse(p, y)'}
    """
    if isinstance(path_or_mapping, str | Path):
        return _read(Path(path_or_mapping))
    if type(path_or_mapping).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            return Document(OmegaConf.to_container(path_or_mapping, resolve=True))  # type: ignore[arg-type]
        except OmegaConfBaseException as error:  # e.g. an interpolation that names no key
            where = f"{error.full_key}: " if getattr(error, "full_key", None) else ""
            reason = str(error).split("\n", 1)[0]
            raise LossConfigError(f"cannot resolve the OmegaConf config: {reason}", where=where) from None
    if not isinstance(path_or_mapping, Mapping):
        raise LossConfigError(f"load() takes a YAML path or a mapping, not {type(path_or_mapping).__name__}")
    return Document(path_or_mapping)


def read_text(path: Path, *, limit: int = MAX_BYTES, what: str = "a YAML file") -> str:
    """The text of ``path``, a regular file of at most ``limit`` bytes.

    /dev/zero never ends and a FIFO blocks until someone writes to it: both are refused at once.

    Raises:
        LossConfigError: ``path`` is missing, not a regular file, too large, or not UTF-8 text.

    Example:
        >>> read_text(Path("/dev/zero"))
        Traceback (most recent call last):
        ...
        losslang.errors.LossConfigError: cannot read /dev/zero: it is not a regular file; give the path of a YAML file
    """
    refused = ""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            refused = "it is a directory" if stat.S_ISDIR(info.st_mode) else "it is not a regular file"
        elif info.st_size > limit:
            refused = f"it has {info.st_size:,} bytes; it may have {limit:,}"
        else:
            return path.read_text(encoding="utf-8")
    except (OSError, ValueError) as error:  # ValueError: undecodable bytes, a NUL in the path
        raise LossConfigError(f"cannot read {path}: {error}") from None
    raise LossConfigError(f"cannot read {path}: {refused}; give the path of {what}")


def _read(path: Path) -> Document:
    text = read_text(path)
    document = Document(None, str(path))
    try:
        _check_nesting(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document.data = _Builder(document.marks, document.aliases).build(node, ()) if node is not None else {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}: " if mark else f"{path}: "
        raise LossConfigError(f"invalid YAML: {error.problem or error.context}", where=where) from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow: no mark, only an offset
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
        reason = f"invalid YAML: unacceptable character {character}: {error.reason}"
        raise LossConfigError(reason, where=f"{path}:{line}:{column}: ") from None
    except yaml.YAMLError as error:
        raise LossConfigError(f"invalid YAML: {error}", where=f"{path}: ") from None
    return document


def _check_nesting(text: str) -> None:
    """Refuse collections nested deeper than ``MAX_NESTING``, reading events (which does not recurse)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_NESTING:
            reason = f"lists and mappings nest more than {MAX_NESTING} levels deep"
            raise yaml.composer.ComposerError(None, None, reason, event.start_mark)


@dataclass
class _Builder:
    """Safe-loads composed YAML nodes like ``yaml.safe_load``, recording where each value starts.

    An alias (``*name``) is the same node as its anchor: like ``safe_load``, it is built once
    and shared, so nested aliases ("billion laughs") cannot blow up and a recursive one ends.
    """

    marks: dict[Key, yaml.Mark]
    aliases: dict[Key, Key]
    built: dict[int, tuple[Any, Key]] = field(default_factory=dict)  # node -> its value, the path it was built at

    def build(self, node: yaml.Node, path: Key) -> Any:
        self.marks[path] = node.start_mark
        if id(node) in self.built:
            value, origin = self.built[id(node)]
            self.aliases.setdefault(path, origin)
            return value
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            # safe_load refuses such tags too (!!python/object...); never build them.
            raise _refuse(node, f"could not determine a constructor for the tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = self._remember(node, path, [])
            items.extend(self.build(item, (*path, index)) for index, item in enumerate(node.value))
            return items
        return self._remember(node, path, _scalar(node))

    def _remember(self, node: yaml.Node, path: Key, value: Any) -> Any:
        self.built[id(node)] = (value, path)
        return value

    def _mapping(self, node: yaml.MappingNode, path: Key) -> dict[Any, Any]:
        result: dict[Any, Any] = self._remember(node, path, {})
        for key_node, value_node in node.value:  # merged entries first, as safe_load orders them
            if key_node.tag == _MERGE:
                self._merge(result, value_node, path)
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _refuse(key_node, "a key must be a plain value")
            key = _scalar(key_node)
            if not isinstance(key, Hashable):  # a tagged scalar, e.g. `!!set x: 1`
                raise _refuse(key_node, f"found unhashable key: a {type(key).__name__}")
            if key in explicit:
                raise _refuse(key_node, f"duplicate key {shown(key)}")
            explicit.add(key)
            self.aliases.pop((*path, key), None)  # an explicit entry replaces a merged one, position too
            result[key] = self.build(value_node, (*path, key))
            self.marks[(*path, key)] = key_node.start_mark  # an entry is where its key is written
        return result

    def _merge(self, result: dict[Any, Any], node: yaml.Node, path: Key) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: the bases' entries, in safe_load's order (the first base wins)."""
        for source in reversed(node.value) if isinstance(node, yaml.SequenceNode) else [node]:
            if not isinstance(source, yaml.MappingNode):
                raise _refuse(source, "<< merges a mapping or a list of mappings into a mapping")
            merged = self.build(source, (*path, "<<"))
            origin = self.built[id(source)][1]
            result.update(merged)
            for key in merged:  # their positions are those in the base: one entry per key, not per mark
                self.aliases[(*path, key)] = (*origin, key)


def _refuse(node: yaml.Node, reason: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, reason, node.start_mark)


def _scalar(node: yaml.Node) -> Any:
    try:
        return yaml.constructor.SafeConstructor().construct_object(node)
    except yaml.MarkedYAMLError:
        raise
    except Exception as error:  # PyYAML's own failures: a 5000-digit integer, `!!int` of nothing, a 13th month
        text = node.value if len(node.value) <= 20 else f"{node.value[:20]}..."
        tag = str(node.tag).removeprefix("tag:yaml.org,2002:")
        reason = f"cannot read {text!r} as {tag}: {type(error).__name__}: {error}"
        raise yaml.constructor.ConstructorError(None, None, reason, node.start_mark) from None
