"""The layering of the code base, read from the source with `ast` (nothing is imported):

(a) no import cycle among the modules of tfvae/ (a package's __init__ is a node of its own; `from tfvae.x import y`
    is an edge to the module tfvae.x.y if there is one, else to tfvae.x). Module-level imports and function-level
    (deferred) ones are reported apart: an import deferred to dodge a cycle is still a cycle.
(b) the library (tfvae/) imports none of apps, export, benchmarks;
(c) export/ does not import apps;
(d) no private name (one leading underscore) is taken from another module, as `from m import _x` or as `m._x` on an
    imported module.
(b) to (d) count deferred imports too. Each test lists every violation with its file and line; the last test runs
the same checks on a small made-up code base that has one violation of each kind.
"""

import ast
import collections
import dataclasses
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("tfvae", "apps", "export")
NOT_IN_THE_LIBRARY = ("apps", "export", "benchmarks")


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module (and, for `from m import a, b`, the names taken from it)."""

    module: str  # the importing module, e.g. tfvae.models.cvae
    path: str  # its file, relative to the root
    line: int
    target: str  # the imported module, resolved: tfvae.training, numpy
    names: tuple  # `from target import names`; () for `import target`
    deferred: bool  # inside a function (run when it is called, not when the module is imported)

    def where(self):
        return f"{self.path}:{self.line}"


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node):
    """'a.b.c' for the expression a.b.c (Names and Attributes only), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return inner and f"{inner}.{node.attr}"
    return None


class Codebase:
    """The modules of PACKAGES under a root folder, parsed, with their imports."""

    def __init__(self, root):
        self.files = {}  # module name -> path relative to root
        for package in PACKAGES:
            for folder, dirs, files in os.walk(os.path.join(root, package)):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for file in sorted(f for f in files if f.endswith(".py")):
                    path = os.path.relpath(os.path.join(folder, file), root)
                    parts = path[:-len(".py")].split(os.sep)
                    if parts[-1] == "__init__":
                        parts.pop()
                    self.files[".".join(parts)] = path
        self.trees = {name: ast.parse(open(os.path.join(root, path)).read(), path) for name, path in self.files.items()}
        self.imports = {name: self._imports(name) for name in self.files}

    def _absolute(self, module, node):
        """The module an ImportFrom names, a relative one resolved against `module`."""
        if not node.level:
            return node.module
        package = module if self.files[module].endswith("__init__.py") else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        return f"{package}.{node.module}" if node.module else package

    def _imports(self, module):
        """Every Import of `module` in source order (`from m import a, b` of submodules a and b gives two)."""
        found, path = [], self.files[module]

        def visit(node, deferred):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    found.extend(Import(module, path, child.lineno, alias.name, (), deferred) for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    source, plain = self._absolute(module, child), []
                    for alias in child.names:
                        if f"{source}.{alias.name}" in self.files:  # a submodule: the edge goes to it
                            found.append(Import(module, path, child.lineno, f"{source}.{alias.name}", (), deferred))
                        else:
                            plain.append(alias.name)
                    if plain:
                        found.append(Import(module, path, child.lineno, source, tuple(plain), deferred))
                visit(child, deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(self.trees[module], False)
        return found

    # (a)
    def graph(self, deferred):
        """{module: {imported module: its first Import}} among tfvae's modules, with deferred imports or without."""
        edges = collections.defaultdict(dict)
        for module, found in self.imports.items():
            for imp in found:
                if (module.split(".")[0] == imp.target.split(".")[0] == "tfvae" and imp.target in self.files
                        and (deferred or not imp.deferred)):
                    edges[module].setdefault(imp.target, imp)
        return edges

    def cycle_report(self):
        """Lines naming every import cycle, module-level ones first, then those a deferred import closes."""
        module_level, everything = self.graph(deferred=False), self.graph(deferred=True)
        at_import = cycles(module_level)
        dodged = [c for c in cycles(everything) if c not in at_import]
        report = []
        if at_import:
            report.append(f"{len(at_import)} import cycle(s) among module-level imports:")
            report.extend(describe(c, module_level) for c in at_import)
        if dodged:
            report.append(f"{len(dodged)} import cycle(s) closed by a function-level (deferred) import:")
            report.extend(describe(c, everything) for c in dodged)
        return report

    # (b), (c)
    def layer_violations(self, package, forbidden):
        return [f"  {imp.where()}: {imp.module} imports {imp.target}{' (deferred)' if imp.deferred else ''}"
                for module, found in sorted(self.imports.items()) if module.split(".")[0] == package
                for imp in found if imp.target.split(".")[0] in forbidden]

    # (d)
    def _module_aliases(self, module):
        """{local name: module} of the names `module` binds to modules by importing them."""
        aliases = {}
        for node in ast.walk(self.trees[module]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    root = alias.name.split(".")[0]
                    aliases[alias.asname or root] = alias.name if alias.asname else root
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(module, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in self.files:
                        aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        return aliases

    def private_uses(self, module):
        uses = []
        for imp in self.imports[module]:
            deferred = " (deferred)" if imp.deferred else ""
            uses.extend((imp.line, f"from {imp.target} import {name}{deferred}") for name in imp.names
                        if is_private(name))
            if imp.target.split(".")[0] in PACKAGES and any(map(is_private, imp.target.split("."))):
                uses.append((imp.line, f"imports the private module {imp.target}{deferred}"))
        aliases = self._module_aliases(module)
        for node in ast.walk(self.trees[module]):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                value = dotted(node.value)
                if value and value.split(".")[0] in aliases:
                    uses.append((node.lineno, f"{value}.{node.attr} (on the imported module "
                                              f"{aliases[value.split('.')[0]]})"))
        return [f"  {self.files[module]}:{line}: {text}" for line, text in sorted(set(uses))]

    def private_report(self):
        return [use for module in sorted(self.files) for use in self.private_uses(module)]


def shortest_path(edges, start, goal):
    """The shortest list of modules start, ..., goal along edges (None if goal cannot be reached)."""
    parents, queue = {start: None}, collections.deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = parents[node]
            return path[::-1]
        for nxt in sorted(edges.get(node, ())):
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return None


def cycles(edges):
    """One shortest cycle through every edge that lies on a cycle, each [m0, m1, ..., m0] starting from its
    alphabetically first module, without duplicates."""
    found = {}
    for module in sorted(edges):
        for target in sorted(edges[module]):
            back = shortest_path(edges, target, module)
            if back is not None:
                ring = [module, *back][:-1]  # module -> target -> ... (-> module)
                first = ring.index(min(ring))
                ring = ring[first:] + ring[:first]
                found.setdefault(tuple(ring), [*ring, ring[0]])
    return [found[key] for key in sorted(found)]


def describe(cycle, edges):
    steps = [f"{a} -> {b} ({edges[a][b].where()}{', deferred' if edges[a][b].deferred else ''})"
             for a, b in zip(cycle, cycle[1:])]
    return "  " + " -> ".join(cycle) + "\n      " + "\n      ".join(steps)


CODEBASE = Codebase(ROOT)


def test_no_import_cycle_among_tfvae_modules():
    report = CODEBASE.cycle_report()
    assert not report, "\n".join(report)


def test_the_library_imports_no_app_export_or_benchmark():
    violations = CODEBASE.layer_violations("tfvae", NOT_IN_THE_LIBRARY)
    assert not violations, f"{len(violations)} import(s) of {NOT_IN_THE_LIBRARY} in tfvae/:\n" + "\n".join(violations)


def test_export_imports_no_app():
    violations = CODEBASE.layer_violations("export", ("apps",))
    assert not violations, f"{len(violations)} import(s) of apps in export/:\n" + "\n".join(violations)


def test_no_private_name_is_used_from_another_module():
    violations = CODEBASE.private_report()
    assert not violations, f"{len(violations)} private name(s) used across modules:\n" + "\n".join(violations)


def test_the_checks_find_one_violation_of_each_kind_in_a_made_up_code_base(tmp_path):
    """Guards against checks that pass because they see nothing: the real walk finds known modules and edges, and
    a small code base with one violation of each kind fails each check with the expected lines."""
    assert {"tfvae", "tfvae.models", "tfvae.models.vae", "apps.train", "export", "export.__main__"} <= set(
        CODEBASE.files)
    assert "tfvae.models.cvae" in CODEBASE.graph(deferred=False)["tfvae.models.m2"]  # m2.py: from tfvae.models.cvae
    sources = {
        "tfvae/__init__.py": "",
        "tfvae/a.py": "from tfvae import b\nimport numpy as np\n",
        "tfvae/b.py": "from tfvae.c import thing\n",
        "tfvae/c.py": "from . import a\n\ndef late():\n    from tfvae.d import _hidden\n    import apps.run\n",
        "tfvae/d.py": "from tfvae import e\n_hidden = 1\n",
        "tfvae/e.py": "def late():\n    from tfvae import d\n    return d._hidden + np._NoValue\n",
        "tfvae/pkg/__init__.py": "from tfvae.pkg.mod import f\n",
        "tfvae/pkg/mod.py": "import tfvae.a\nf = tfvae.a.np.__name__\n",
        "apps/__init__.py": "", "apps/run.py": "import export\n",
        "export/__init__.py": "", "export/__main__.py": "from apps import run\n",
    }
    for path, text in sources.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    made_up = Codebase(str(tmp_path))
    assert made_up.cycle_report() == [
        "1 import cycle(s) among module-level imports:",
        "  tfvae.a -> tfvae.b -> tfvae.c -> tfvae.a\n"
        "      tfvae.a -> tfvae.b (tfvae/a.py:1)\n      tfvae.b -> tfvae.c (tfvae/b.py:1)\n"
        "      tfvae.c -> tfvae.a (tfvae/c.py:1)",
        "1 import cycle(s) closed by a function-level (deferred) import:",
        "  tfvae.d -> tfvae.e -> tfvae.d\n      tfvae.d -> tfvae.e (tfvae/d.py:1)\n"
        "      tfvae.e -> tfvae.d (tfvae/e.py:2, deferred)"]
    assert made_up.layer_violations("tfvae", NOT_IN_THE_LIBRARY) == [
        "  tfvae/c.py:5: tfvae.c imports apps.run (deferred)"]
    assert made_up.layer_violations("export", ("apps",)) == ["  export/__main__.py:1: export.__main__ imports apps.run"]
    assert made_up.private_report() == [
        "  tfvae/c.py:4: from tfvae.d import _hidden (deferred)",
        "  tfvae/e.py:3: d._hidden (on the imported module tfvae.d)"]  # np is not imported in e.py
    assert cycles({"a": {"b": None}, "b": {"c": None, "a": None}, "c": {"a": None}}) == [
        ["a", "b", "a"], ["a", "b", "c", "a"]]
