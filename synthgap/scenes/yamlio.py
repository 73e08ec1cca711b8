"""The one YAML reader of every file and value a user hands synthgap (scenes, jobs, pose hint
files, `--set KEY=VALUE`): bounded and strict.

* `safe_load` semantics (no Python objects), with YAML 1.2 numbers: `1e-3` and `1E+5` are
  floats (YAML 1.1, PyYAML's default, reads them as strings).
* A key given twice in one mapping is an error (not "last one wins").
* Files: at most `MAX_FILE_BYTES`, UTF-8 text; nesting at most `MAX_DEPTH` levels and at most
  `MAX_VALUES` values (each alias use counted again), checked before anything else looks at
  the data, so an alias bomb or a 20000-deep list is refused in milliseconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from synthgap.scenes.errors import yaml_problem
from synthgap.scenes.limits import MAX_DEPTH, MAX_FILE_BYTES, check_plain_data

__all__ = ["YamlProblem", "load_yaml_text", "read_yaml_file"]


class YamlProblem(ValueError):
    """A YAML text or file that cannot be read; the message is one line without the path."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and duplicate keys refused."""


_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT,
                                    list("-+0123456789."))


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
             ) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: the default constructor reports it
            continue
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {str(key)[:40]!r} (each key may appear once in a "
                            "mapping; remove one)", mark)
    return dict(loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load_yaml_text(text: str) -> Any:
    """Parse YAML text (see the module docstring), bounds checked.

    Raises:
        YamlProblem: not valid YAML (with line and column), a duplicate key, nesting too deep
            or too many values.
    """
    try:
        # _StrictLoader is a yaml.SafeLoader subclass (plain data only, never objects): the same
        # safety as yaml.safe_load, plus YAML 1.2 numbers and duplicate keys refused
        data = yaml.load(text, Loader=_StrictLoader)
    except RecursionError:
        raise YamlProblem(f"lists or mappings nested too deeply (more than {MAX_DEPTH} "
                          "levels); no field needs that") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(yaml_problem(exc)) from None
    if too_big := check_plain_data(data):
        raise YamlProblem(too_big)
    return data


def read_yaml_file(path: Path | str, *, what: str = "file") -> Any:
    """Read a YAML file: its size is checked before it is read, then `load_yaml_text`.

    Args:
        path: the file.
        what: what the file is, for the messages (`scene file`, `job file`, ...).

    Raises:
        YamlProblem: missing, too large, not UTF-8 text, or as `load_yaml_text`.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise YamlProblem(f"{what} not found" + (" (it is a folder)" if path.is_dir()
                                                     else ""))
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(f"the file is {size / 1e6:.1f} MB; a {what} is limited to "
                              f"{MAX_FILE_BYTES >> 20} MB (is it really a {what}?)")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise YamlProblem(f"not a text file (it holds bytes that are not UTF-8); give a YAML "
                          f"{what}") from None
    except OSError as exc:
        raise YamlProblem(f"cannot read the file ({exc.strerror or exc})") from None
    return load_yaml_text(text)
