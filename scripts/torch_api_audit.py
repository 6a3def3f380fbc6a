"""Which torch / torchvision API the book uses, and in which releases it exists.

CI cannot install torch 2.2 (the declared floor: its wheels are gigabytes), so the floor is backed
by a record instead: ``tests/torch_api_floor.txt`` lists every torch attribute that ``lib/``,
``tests/`` and the chapters use, each checked present in the floor's wheels, with the first of the
checked releases that has it. ``tests/test_dependency_floors.py`` fails when the code uses a name
that is not in the record.

What counts as "used" (``used_api``), read from the source with ``ast``, never by importing it:

- attribute chains on a name bound to torch by an import: ``torch.linalg.vector_norm``,
  ``nn.init.zeros_``, ``F.unfold`` (after ``import torch.nn.functional as F``), and names imported
  from torch (``from torch.utils.data import DataLoader``);
- any other ``.name`` (``x.unfold(...)``, ``self.register_buffer(...)``) whose name is an attribute
  of ``torch.Tensor``, ``torch.nn.Module`` or ``torch.optim.Optimizer`` in the installed torch,
  recorded as ``torch.Tensor.name`` etc. (the code cannot say what type ``x`` has; a NumPy call of
  the same name is recorded too, which is harmless as long as torch 2.2 has the name).

To extend the record after using new API (the test names the missing entries), download the
wheels of the floor and of the releases before it (the small macOS ones, 60 MB each: only their
Python sources and type stubs are read, nothing is installed) and re-write the record::

    for v in 2.0.0/0.15.1 2.1.0/0.16.0 2.2.0/0.17.0; do
        pip download --no-deps --only-binary=:all: --platform macosx_11_0_arm64 \\
            --python-version 3.11 torch==${v%/*} torchvision==${v#*/} -d /tmp/floor
    done
    python scripts/torch_api_audit.py --write /tmp/floor/*.whl

The newest torch wheel given is the floor; the older ones fill in the first-release column. A name
missing from the floor is printed and not recorded: use other API, or raise the floor in
requirements.txt (and give its wheels here).
"""

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "torch_api_floor.txt"
SOURCES = ("lib", "tests", "chapters")
PACKAGES = ("torch", "torchvision")
# Names the class heuristic below picks up from objects that are not tensors, modules or
# optimizers, and that the floor does not have as such (each checked by hand): never recorded.
NOT_TORCH = {
    "torch.Tensor.index": "torch.device.index and list.index; Tensor.index is newer than 2.2",
    "torch.Tensor.name": "Path.name, Enum.name, ...; Tensor.name is newer than 2.2",
}


# ----------------------------------------------------------------------------- what the code uses

def _chain(node):
    """``a.b.c`` -> ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def used_in_source(source, class_attrs):
    """The torch names that one Python source uses (see the module docstring).

    class_attrs: {"torch.Tensor": set of attribute names, ...} of the installed torch.
    """
    tree = ast.parse(source)
    aliases, used = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    bound = alias.asname or alias.name.split(".")[0]
                    aliases[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    used.add(f"{node.module}.{alias.name}")
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        parts = _chain(node)
        if parts is not None and parts[0] in aliases:
            used.add(".".join([aliases[parts[0]], *parts[1:]]))
            continue
        # not rooted at torch: record each attribute of the chain that a torch class has
        sub = node
        while isinstance(sub, ast.Attribute):
            for cls, attrs in class_attrs.items():
                if sub.attr in attrs:
                    used.add(f"{cls}.{sub.attr}")
            sub = sub.value
    return used


def notebook_source(path):
    """The code cells of a notebook as one source; IPython magics and shell lines dropped."""
    cells = json.loads(Path(path).read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            text = "".join(cell["source"])
            lines += [ln for ln in text.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def installed_class_attrs():
    import torch  # the installed torch only says which names are attributes of these classes

    classes = {"torch.Tensor": torch.Tensor, "torch.nn.Module": torch.nn.Module,
               "torch.optim.Optimizer": torch.optim.Optimizer}
    return {name: {a for a in dir(cls) if not a.startswith("__")}
            for name, cls in classes.items()}


def used_api(root=ROOT, sources=SOURCES):
    """{torch name: [files that use it]} over the .py files and notebooks under ``sources``."""
    class_attrs = installed_class_attrs()
    result = {}
    for folder in sources:
        for path in sorted((Path(root) / folder).rglob("*")):
            if path.suffix == ".py":
                source = path.read_text()
            elif path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                source = notebook_source(path)
            else:
                continue
            for name in used_in_source(source, class_attrs):
                result.setdefault(name, []).append(str(path.relative_to(root)))
    return result


def read_record(path=RECORD):
    """{name: first release} from the record file (``name  release`` per line, # comments)."""
    record = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            record[line[0]] = line[1] if len(line) > 1 else "?"
    return record


# ----------------------------------------------------------------------- what a release provides

class Release:
    """The names a torch (+ torchvision) release defines, read statically from its wheels."""

    def __init__(self, wheels):
        self.files = {}
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                for member in z.namelist():
                    if member.endswith((".py", ".pyi")):
                        self.files[member] = z.read(member).decode("utf-8", "replace")
        self.members = {m.rsplit("/", 1)[0] for m in self.files} | set(self.files)
        self._modules, self._trees = {}, {}

    def _tree(self, f):
        if f not in self._trees:
            self._trees[f] = ast.parse(self.files[f])
        return self._trees[f]

    def _module_files(self, module):
        base = module.replace(".", "/")
        return [f for f in (f"{base}.py", f"{base}.pyi", f"{base}/__init__.py",
                            f"{base}/__init__.pyi") if f in self.files]

    def is_module(self, module):
        return bool(self._module_files(module)) or module.replace(".", "/") in self.members

    def module_names(self, module):
        """Top-level names of a module (defs, classes, assignments, imports, star imports)."""
        if module in self._modules:
            return self._modules[module]
        self._modules[module] = names = set()
        for f in self._module_files(module):
            package = module if f.endswith(("__init__.py", "__init__.pyi")) else \
                module.rpartition(".")[0]
            for node in self._top_level(self._tree(f)):
                names |= self._defined(node, package)
        if module == "torch":  # torch/__init__.py copies these in with a loop over dir()
            names |= self.module_names("torch._C._VariableFunctions")
        prefix = module.replace(".", "/") + "/"
        for m in self.members:  # submodules
            if m.startswith(prefix):
                names.add(m[len(prefix):].split("/")[0].removesuffix(".pyi").removesuffix(".py"))
        return names

    @staticmethod
    def _top_level(tree):
        stack = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.If, ast.Try)):
                stack += node.body + node.orelse + getattr(node, "finalbody", [])
                stack += [s for h in getattr(node, "handlers", []) for s in h.body]
            else:
                yield node

    def _defined(self, node, package):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return {node.name}
        if isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            for t in node.targets:
                if isinstance(t, ast.Tuple):
                    names |= {e.id for e in t.elts if isinstance(e, ast.Name)}
            return names
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return {node.target.id}
        if isinstance(node, ast.Import):
            return {a.asname or a.name.split(".")[0] for a in node.names}
        if isinstance(node, ast.ImportFrom):
            source = self._absolute(node, package)
            if any(a.name == "*" for a in node.names):
                return {n for n in self.module_names(source) if not n.startswith("_")}
            return {a.asname or a.name for a in node.names}
        return set()

    @staticmethod
    def _absolute(node, package):
        """The absolute module name of a ``from ... import`` inside ``package``."""
        if not node.level:
            return node.module
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def _class_node(self, module, cls, depth=0):
        """The class statements of ``module.cls``, following re-exports (``from x import cls``,
        ``from x import *``)."""
        for f in self._module_files(module):
            package = module if "__init__" in f else module.rpartition(".")[0]
            for node in self._top_level(self._tree(f)):
                if isinstance(node, ast.ClassDef) and node.name == cls:
                    yield node
                elif isinstance(node, ast.ImportFrom) and depth < 5:
                    for alias in node.names:
                        if alias.name == "*" or (alias.asname or alias.name) == cls:
                            source = self._absolute(node, package)
                            name = cls if alias.name == "*" else alias.name
                            yield from self._class_node(source, name, depth + 1)

    def class_members(self, module, cls):
        names = set()
        for node in self._class_node(module, cls):
            for item in node.body:
                names |= self._defined(item, module)
        return names

    TENSOR_PARTS = (("torch._tensor", "Tensor"), ("torch._C", "TensorBase"),
                    ("torch._C", "_TensorBase"))
    CLASS_HOMES = {"torch.nn.Module": [("torch.nn.modules.module", "Module")],
                   "torch.optim.Optimizer": [("torch.optim.optimizer", "Optimizer")],
                   "torch.Tensor": TENSOR_PARTS, "torch.nn.Parameter": TENSOR_PARTS}

    def has(self, name):
        """Whether the dotted ``name`` exists in this release (read statically)."""
        parts = name.split(".")
        for cls, homes in self.CLASS_HOMES.items():
            if name.startswith(cls + ".") and len(parts) == len(cls.split(".")) + 1:
                if any(parts[-1] in self.class_members(m, c) for m, c in homes):
                    return True
        for i in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:i])
            if not self.is_module(module):
                continue
            rest = parts[i:]
            if rest[0] not in self.module_names(module):
                return False
            if len(rest) == 1:
                return True
            if self.is_module(f"{module}.{rest[0]}"):
                continue  # handled by a longer module prefix
            # module.Class.attr, or module.var.attr where `var: Class` (torch.float32.itemsize)
            cls = rest[0]
            for f in self._module_files(module):
                for node in self._top_level(self._tree(f)):
                    if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == cls \
                            and isinstance(node.annotation, ast.Name):
                        cls = node.annotation.id
            return len(rest) == 2 and rest[1] in self.class_members(module, cls)
        return self.is_module(name)


def release_version(wheels, package="torch"):
    """The version of ``package`` among the wheel files of one release."""
    for wheel in wheels:
        match = re.match(rf"{package}-([0-9.]+)-", Path(wheel).name)
        if match:
            return match.group(1)
    raise SystemExit(f"no {package} wheel among {[str(w) for w in wheels]}")


def _version_key(version):
    return tuple(int(part) for part in re.findall(r"\d+", version))


def pair_releases(wheels):
    """[[torch wheel, torchvision wheel], ...] oldest first: the n-th oldest of each package."""
    by_package = {}
    for wheel in wheels:
        package = "torchvision" if wheel.name.startswith("torchvision-") else "torch"
        by_package.setdefault(package, []).append(wheel)
    torch_wheels, vision_wheels = (
        sorted(by_package.get(p, []), key=lambda w: _version_key(release_version([w], p)))
        for p in ("torch", "torchvision"))
    if len(torch_wheels) != len(vision_wheels):
        raise SystemExit("give one torchvision wheel for each torch wheel")
    return [list(pair) for pair in zip(torch_wheels, vision_wheels, strict=True)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path,
                        help="torch wheels and as many torchvision wheels (any order)")
    parser.add_argument("--write", action="store_true", help=f"re-write {RECORD.name}")
    args = parser.parse_args(argv)
    used = used_api()
    if not args.wheels:
        for name in sorted(set(used) - set(NOT_TORCH)):
            print(name)
        return
    releases = pair_releases(args.wheels)
    versions = [release_version(r) for r in releases]
    loaded = [Release(r) for r in releases]
    first, missing = {}, []
    for name in sorted(set(used) - set(NOT_TORCH)):
        package = name.split(".")[0]  # the first-release column names that package's version
        named = [release_version(r, package) for r in releases]
        present = [v for v, rel in zip(named, loaded, strict=True) if rel.has(name)]
        if named[-1] not in present:
            missing.append(name)
        else:
            first[name] = present[0] if present[0] != named[0] else f"<={named[0]}"
    for name in missing:
        print(f"MISSING in the floor: {name}  (used in {', '.join(used[name][:3])})")
    width = max(map(len, first), default=0) + 2
    lines = [f"{name:<{width}}{release}" for name, release in first.items()]
    if args.write:
        floor = f"torch {versions[-1]} + torchvision {release_version(releases[-1], 'torchvision')}"
        checked = ", ".join(f"{v}/{release_version(r, 'torchvision')}"
                            for v, r in zip(versions, releases, strict=True))
        header = (f"# floor: {floor}\n"
                  f"# The torch / torchvision names that {', '.join(SOURCES)} use, each present in "
                  f"the floor's release, with the first of the releases checked "
                  f"(torch/torchvision {checked}) that has it.\n"
                  "# Written by scripts/torch_api_audit.py --write (see its docstring); "
                  "checked by tests/test_dependency_floors.py.\n")
        RECORD.write_text(header + "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} names to {RECORD.relative_to(ROOT)}")
    else:
        print("\n".join(lines))
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
