"""Cut X's OpenAPI document down to what the tests validate against.

X publishes its API v2 specification at https://api.x.com/2/openapi.json (pinned versions are
the ones X's official Python SDK, xdevplatform/xdk, ships). The whole document is about 800 KB;
the tests need the operations the sandbox answers (and those the next features will), every
parameter component (the sandbox's vocabularies are checked against them) and every schema
those reach through `$ref` (a discriminator's mapping included).

    python scripts/excerpt_x_spec.py openapi.json v2.159 > tests/data/x-api-spec/openapi-v2.159.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Operations kept, by path template (every method under them is kept).
PATHS = (
    "/2/users/me",
    "/2/users/{id}",
    "/2/users/{id}/mentions",
    "/2/users/{id}/tweets",
    "/2/users/{id}/posts",
    "/2/tweets",
    "/2/tweets/{id}",
    "/2/posts",
    "/2/posts/{id}",
    "/2/tweets/search/recent",
    "/2/posts/search/recent",
    "/2/usage/tweets",
    "/2/usage/posts",
)
# Path prefixes kept whole: push ingest (the Activity API and webhooks).
PREFIXES = ("/2/activity", "/2/webhooks")


def _refs(node: Any) -> set[str]:
    """Every `#/components/...` reference under a node (a discriminator's mapping included)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            elif key == "mapping" and isinstance(value, dict):
                found.update(v for v in value.values() if isinstance(v, str))
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return {ref for ref in found if ref.startswith("#/components/")}


def excerpt(document: dict[str, Any], version: str) -> dict[str, Any]:
    """The kept paths, all parameters, and every component they reach."""
    paths = {p: ops for p, ops in document["paths"].items() if p in PATHS or p.startswith(PREFIXES)}
    components: dict[str, dict[str, Any]] = {"parameters": document["components"]["parameters"]}
    todo = _refs(paths) | _refs(components)
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        target = document["components"][kind][name]
        components.setdefault(kind, {})[name] = target
        todo |= _refs(target)
    for kind in ("securitySchemes",):
        if kind in document["components"]:
            components[kind] = document["components"][kind]
    info = dict(document["info"])
    info["x-excerpt"] = (
        f"An excerpt of X's OpenAPI document {version} (https://api.x.com/2/openapi.json, as "
        "pinned by xdevplatform/xdk) made by scripts/excerpt_x_spec.py: the operations the "
        "tests use and every component they reach. Licence: X Developer Agreement and Policy."
    )
    out = {k: v for k, v in document.items() if k not in ("paths", "components", "info")}
    return {
        "info": info,
        **out,
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


if __name__ == "__main__":
    source, version = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        doc = json.load(f)
    json.dump(excerpt(doc, version), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
