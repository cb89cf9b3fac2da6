"""Every runtime dependency is pinned, named in README's Dependencies table with what it
is for, and used where the table says: nothing installed for nothing (aiohttp once was)."""
import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| ([A-Za-z0-9_.-]+) \| [^|]+ \| `([^`]+)`(?:: `([^`]+)`)? \|$")


def requirements() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[re.sub(r"\[.*\]", "", name).lower()] = version
    return found


def readme_table() -> dict[str, tuple[str, str | None]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    return {m.group(1).lower(): (m.group(2), m.group(3)) for m in map(ROW.match, section.splitlines()) if m}


def import_names(dist: str) -> set[str]:
    return {name for name, dists in metadata.packages_distributions().items()
            if dist in {d.lower() for d in dists}} | {dist.replace("-", "_")}


def test_every_requirement_is_pinned():
    assert all(re.fullmatch(r"\d+(\.\d+)*(\.post\d+)?", v) for v in requirements().values()), requirements()


def test_the_readme_names_exactly_the_requirements():
    assert set(readme_table()) == set(requirements())


def test_each_requirement_is_used_where_the_readme_says():
    for dist, (path, word) in readme_table().items():
        text = (ROOT / path).read_text()
        words = {word} if word else import_names(dist)
        assert any(w in text for w in words), f"{dist}: none of {sorted(words)} in {path}"
