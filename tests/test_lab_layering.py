"""The lab runtime is product code: `manage.py lab up` imports lab/, and the Docker image
ships lab/ but not tests/. So nothing outside tests/ may import the tests package, and the
image's build context must hold lab/ and leave tests/ out."""
from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

from lab import build, layout

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("lbadmin", "virtualservers", "monitoring", "lab", "bench")


def imported_modules(path: Path) -> set[str]:
    """Every module path.py imports, wherever the import statement sits."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imports_tests(path: Path) -> bool:
    return any(name == "tests" or name.startswith("tests.") for name in imported_modules(path))


def test_no_module_outside_tests_imports_the_tests_package():
    offenders = [str(path.relative_to(ROOT))
                 for package in PRODUCT_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                 if imports_tests(path)]

    assert offenders == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tests.lab import vm\n")

    assert imports_tests(module)


def _dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns leave relative (a path in the context) out.

    Enough of Docker's rules for this file: a pattern matches the path or one of its
    parent directories; "**/NAME" matches a file or directory NAME at any depth. No "!"
    exceptions are used here.
    """
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for pattern in patterns:
        assert not pattern.startswith("!"), "teach _dockerignored about exceptions"
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern.removeprefix("**/")) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_the_docker_image_ships_lab_and_leaves_tests_out():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = [line.split()[1:] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ")]

    assert [".", "."] in copies  # the whole context, minus .dockerignore
    lab_files = [path.relative_to(ROOT).as_posix() for path in (ROOT / "lab").rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts]
    assert "lab/vm.py" in lab_files and "lab/guest/init" in lab_files
    assert [path for path in lab_files if _dockerignored(path, patterns)] == []
    assert _dockerignored("tests/test_lab_layering.py", patterns)
    assert _dockerignored("lab/__pycache__/vm.cpython-311.pyc", patterns)


def test_the_lab_dir_follows_the_environment_then_the_checkout(tmp_path):
    assert layout.lab_dir({"LBADMIN_LAB_DIR": str(tmp_path / "x")}) == tmp_path / "x"
    assert layout.lab_dir({}) == ROOT / ".lab"  # this is a checkout: manage.py is here


def test_ci_installs_every_host_package_the_lab_build_needs():
    packages = re.search(r'^SYSTEM_PACKAGES="([^"]*)"', (ROOT / ".ci/run").read_text(), re.MULTILINE)
    # Essential on every Debian, or pulled in by openssh-server.
    present_anyway = {"bash", "apt", "dpkg", "libc-bin", "openssh-sftp-server"}
    needed = {*build.HOST_PACKAGES.values(), *build.HOST_TOOLS.values(), "libc6-dev"} - present_anyway

    assert needed <= set(packages.group(1).split())
