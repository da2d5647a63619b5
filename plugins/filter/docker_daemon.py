"""daemon.json, merged value by value: the docker role is the file's only writer, and it owns
exactly the values it wrote, wherever they sit in the file.

    {{ existing | docker_daemon_merge(managed, defaults, options, contributions) }}
    -> {"config": the new daemon.json,
        "managed": [{"path": ["log-opts", "max-size"], "value": "100m"}, ...]: what dlfleet
                   wrote, where}

- existing: the host's daemon.json now; managed: what the last run recorded (older dlfleet
  recorded paths without values, or top-level keys: read as one-key paths).
- defaults (dlfleet's own) are soft: a value the host set itself at the same path wins, and
  so does a value the admin changed after dlfleet wrote it (the host holds another value
  than the one recorded): from then on it is the host's, kept without a restart. Log
  options are defaults of the json-file and local drivers only: with another driver (e.g.
  journald) they are left out, since dockerd refuses options its driver lacks.
- options (docker_daemon_options and the named variables) and contributions (other roles',
  in order) are what was asked for: they are set, over the host's value if need be.
- Every other value on the host stays, nested ones included; a value dlfleet wrote and no
  longer asks for is removed, with the mappings it leaves empty.

Runs on the control machine (filters do); unit-tested in tests/unit/test_docker_daemon.py.
"""

from __future__ import annotations

import copy

LOG_OPTS_DRIVERS = ("json-file", "local")


def _leaves(mapping, prefix=()):
    """(path, value) of every value that is not a non-empty mapping."""
    for key, value in mapping.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _get(mapping, path):
    for key in path:
        if not isinstance(mapping, dict) or key not in mapping:
            return None, False
        mapping = mapping[key]
    return mapping, True


def _set(mapping, path, value):
    for key in path[:-1]:
        if not isinstance(mapping.get(key), dict):
            mapping[key] = {}
        mapping = mapping[key]
    mapping[path[-1]] = copy.deepcopy(value)


def _remove(mapping, path):
    """Remove the value at path, then the mappings that removal left empty."""
    parents = []
    node = mapping
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return
        parents.append((node, key))
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key] == {}:
            del parent[key]
        else:
            break


def _host_has(host, path):
    """The host set this value itself, or a non-mapping value above it."""
    for depth in range(1, len(path) + 1):
        value, found = _get(host, path[:depth])
        if not found:
            return False
        if depth < len(path) and not isinstance(value, dict):
            return True
    return True


def _record(entry):
    """(path, value written, whether the value is known) of one record of the managed file."""
    if isinstance(entry, dict):
        return tuple(entry["path"]), entry.get("value"), "value" in entry
    return tuple([entry] if isinstance(entry, str) else entry), None, False


def docker_daemon_merge(existing, managed, defaults, options, contributions=()):
    host = copy.deepcopy(existing or {})
    if not isinstance(host, dict):
        raise ValueError("daemon.json is not a JSON object")
    asked = {}
    for source in [options or {}, *(contributions or [])]:
        for path, value in _leaves(source):
            _set(asked, path, value)
    for entry in managed or []:
        path, written, known = _record(entry)
        current, found = _get(host, path)
        if known and found and current != written and not _get(asked, path)[1]:
            continue  # the admin changed what dlfleet wrote: the host's value now
        _remove(host, path)
    driver = asked.get("log-driver") or host.get("log-driver") or (defaults or {}).get("log-driver")
    config, owned = host, set()
    for path, value in _leaves(defaults or {}):
        if path[0] == "log-opts" and (driver or "json-file") not in LOG_OPTS_DRIVERS:
            continue
        if not _host_has(host, path) and _get(asked, path)[1] is False:
            _set(config, path, value)
            owned.add(path)
    for path, value in _leaves(asked):
        _set(config, path, value)
        owned.add(path)
    return {
        "config": config,
        "managed": [{"path": list(p), "value": _get(config, p)[0]} for p in sorted(owned)],
    }


class FilterModule:
    def filters(self):
        return {"docker_daemon_merge": docker_daemon_merge}
