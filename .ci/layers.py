#!/usr/bin/env python3
"""The crate's floors, checked against its imports.

Reads every `crate::…` path in `src/` (in `use` lines and inline, comments and `#[cfg(test)]`
modules left out) and checks, for the modules at the top of `src/`:

- each imports only modules on floors below its own (FLOORS, bottom first; one floor's
  modules may not import one another either), so there is no import circle between them,
  and none of those FORBIDDEN to it (the HTTP edge reaches storage only through the domain);
- no import circle between files either (a module's `mod.rs` declaring and re-exporting its
  own children does not count: it contains them);
- no source file is longer than MAX_LINES outside its `#[cfg(test)]` module.

docs/design.md draws the same floors. Run from the repository: `python3 .ci/layers.py`
(`--graph` prints every module's imports as well). Exit status 1 names each violation.
"""

import os
import re
import sys
from collections import defaultdict

# Bottom first. A module may import any module on a lower floor, none on its own or above.
FLOORS = [
    # Plain values, depending on nothing of authd's.
    ["clock", "labels", "grant_type"],
    # What is stored, behind traits, with its Postgres, Redis and in-memory implementations.
    ["store"],
    # The domain's failure kinds, its counters, and its logs and traces.
    ["error", "metrics", "telemetry"],
    # Each replica's memory and how current it is; scopes.
    ["invalidation", "scope"],
    # The domain, bottom to top.
    ["keys"],
    ["tokens", "outbox"],
    ["oidc", "possession", "rate_limit", "exchange", "mail", "events", "ldap"],
    ["sessions"],
    ["clients", "accounts"],
    ["authorization", "operations", "federation"],
    ["logout", "admin", "ssf"],
    # The validated settings, then the services a request may call, built from them.
    ["config"],
    ["state"],
    # The edge, the background tasks, and what assembles them.
    ["http", "tasks"],
    ["startup"],
    ["commands"],
    ["lib", "main"],
]

# Imports a lower floor may not have from a given module all the same: handlers reach storage
# only through the domain's services (the records they hand out are re-exported there).
FORBIDDEN = {
    "http": {"store"},
}

MAX_LINES = 600

SRC = "src"


def top_module(path):
    """The module at the top of `src/` a file belongs to (`lib` and `main` for the roots)."""
    return os.path.relpath(path, SRC)[:-3].split(os.sep)[0]


def module_path(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def strip_comments(text):
    # Line comments (doc comments included); block comments are not used in the crate.
    return re.sub(r"//[^\n]*", "", text)


def strip_test_modules(text):
    """Drops `#[cfg(test)] mod name { … }` bodies; a `#[cfg(test)] mod name;` file is
    skipped by the caller."""
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{")
    while True:
        match = pattern.search(text, i)
        if not match:
            out.append(text[i:])
            break
        out.append(text[i : match.start()])
        depth = 1
        j = match.end()
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        i = j
    return "".join(out)


def test_only_files():
    """Files declared as `#[cfg(test)] mod name;`: test code, left out."""
    skipped = set()
    for directory, _, files in os.walk(SRC):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            text = open(path, encoding="utf-8").read()
            base = directory if name in ("mod.rs", "lib.rs", "main.rs") else path[:-3]
            for match in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+(\w+)\s*;", text):
                for candidate in (
                    os.path.join(base, match.group(1) + ".rs"),
                    os.path.join(base, match.group(1), "mod.rs"),
                ):
                    skipped.add(os.path.normpath(candidate))
    return skipped


def use_trees(text):
    """Every path reached from `crate::` in `text`, as lists of segments."""
    paths = []
    for match in re.finditer(r"\bcrate::", text):
        i = match.end()
        paths.extend(parse_tree(text, i, []))
    return paths


def parse_tree(text, i, prefix):
    """Parses a path or `{…}` group at `text[i:]`; returns the full paths it names."""
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text) and text[i] == "{":
        depth = 0
        j = i
        items, current = [], ""
        while j < len(text):
            ch = text[j]
            if ch == "{":
                depth += 1
                if depth == 1:
                    j += 1
                    continue
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            if ch == "," and depth == 1:
                items.append(current)
                current = ""
            else:
                current += ch
            j += 1
        items.append(current)
        paths = []
        for item in items:
            if item.strip():
                paths.extend(parse_tree(item, 0, prefix))
        return paths
    match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", text[i:])
    if not match:
        return [prefix] if prefix else []
    segment = match.group(1)
    j = i + match.end()
    if text.startswith("::", j):
        return parse_tree(text, j + 2, prefix + [segment])
    return [prefix + [segment]]


def resolve_file(segments):
    """The source file a crate path lands in (the deepest module that exists)."""
    best = None
    for n in range(1, len(segments) + 1):
        base = os.path.join(SRC, *segments[:n])
        for candidate in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.isfile(candidate):
                best = candidate
    return best


def root_reexports():
    """Names lib.rs re-exports at the crate root (`pub use state::AppState;`), by module."""
    names = {}
    text = strip_comments(open(os.path.join(SRC, "lib.rs"), encoding="utf-8").read())
    for match in re.finditer(r"pub use (\w+)::(\{[^}]*\}|\w+);", text):
        for name in re.findall(r"\w+", match.group(2)):
            names[name] = match.group(1)
    return names


def main():
    graph_flag = "--graph" in sys.argv
    reexported = root_reexports()
    skipped = test_only_files()
    floor_of = {m: n for n, floor in enumerate(FLOORS) for m in floor}
    module_edges = defaultdict(lambda: defaultdict(set))
    file_edges = defaultdict(set)
    problems = []
    for directory, _, files in os.walk(SRC):
        for name in sorted(files):
            path = os.path.normpath(os.path.join(directory, name))
            if not name.endswith(".rs") or path in skipped:
                continue
            raw = open(path, encoding="utf-8").read()
            text = strip_test_modules(strip_comments(raw))
            lines = strip_test_modules(raw).count("\n")
            if lines > MAX_LINES:
                problems.append(f"{path}: {lines} lines outside its tests (at most {MAX_LINES})")
            me = top_module(path)
            if me not in floor_of:
                problems.append(f"{path}: module `{me}` is on no floor of .ci/layers.py")
            own = module_path(path)
            for segments in use_trees(text):
                if not segments or segments[0] in ("self",):
                    continue
                target = reexported.get(segments[0], segments[0])
                if target != me:
                    module_edges[me][target].add(path)
                target_file = resolve_file(segments)
                if target_file and os.path.normpath(target_file) != path:
                    target_file = os.path.normpath(target_file)
                    # A module's own children are part of it.
                    if name == "mod.rs" and target_file.startswith(directory + os.sep):
                        continue
                    file_edges[path].add(target_file)
            # `super::` paths stay within a top module; resolve them for file circles.
            for match in re.finditer(r"\bsuper::((?:super::)*)([A-Za-z_][A-Za-z0-9_:]*)", text):
                ups = 1 + match.group(1).count("super::")
                base = own[:-ups] if name != "mod.rs" else own[: len(own) - ups]
                rest = [s for s in match.group(2).split("::") if s]
                target_file = resolve_file(base + rest) if base else None
                if target_file and os.path.normpath(target_file) != path:
                    target_file = os.path.normpath(target_file)
                    if name == "mod.rs" and target_file.startswith(directory + os.sep):
                        continue
                    file_edges[path].add(target_file)

    for source, targets in sorted(module_edges.items()):
        for target, where in sorted(targets.items()):
            if source not in floor_of or target not in floor_of:
                continue
            if target in FORBIDDEN.get(source, ()):
                problems.append(
                    f"`{source}` may not import `{target}`: {', '.join(sorted(where))}"
                )
            elif floor_of[target] >= floor_of[source]:
                problems.append(
                    f"`{source}` (floor {floor_of[source]}) imports `{target}` "
                    f"(floor {floor_of[target]}): {', '.join(sorted(where))}"
                )

    for circle in circles(file_edges):
        problems.append("import circle between files: " + " -> ".join(circle))

    if graph_flag:
        for n, floor in reversed(list(enumerate(FLOORS))):
            for module in floor:
                below = sorted(module_edges.get(module, {}))
                print(f"floor {n:2}  {module:<14} imports {', '.join(below) or 'nothing of authd'}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"layers: {len(floor_of)} modules on {len(FLOORS)} floors, no import circle, "
          f"no file over {MAX_LINES} lines")
    return 0


def circles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


if __name__ == "__main__":
    sys.exit(main())
