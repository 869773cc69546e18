"""Structural rules of the code base, checked on the source.

The layers and the core's forbidden imports are import-linter contracts in
``pyproject.toml`` (``lint-imports``, run by ``make test``); these are the rules it cannot say.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


# The one composer of adapters is ``run`` (``briefbot run`` serves every platform at once),
# and the CLI's ``run`` command starts it; no other adapter knows another.
ADAPTER_EDGES = {
    ("cli", "run"),
    ("run", "console_channel"),
    ("run", "console_outbox"),
    ("run", "discord"),
    ("run", "slack"),
}


def test_adapters_never_import_each_other() -> None:
    root = BOT / "adapters"
    adapters = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    adapters |= {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    seen = set()
    for path in root.rglob("*.py"):
        owner = path.relative_to(root).parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["bot", "adapters"] and len(parts) > 2 and parts[2] != owner:
                    assert parts[2] in adapters, node.module
                    edge = (owner, parts[2])
                    assert edge in ADAPTER_EDGES, f"{path.name} imports {node.module}"
                    seen.add(edge)
    assert seen == ADAPTER_EDGES  # the allowed edges are the real ones, no stale entries


def test_only_config_reads_the_environment() -> None:
    pattern = re.compile(r"os\.environ|os\.getenv|load_dotenv")
    readers = [
        str(path.relative_to(ROOT))
        for path in BOT.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == ["bot/config.py"]


def test_env_example_documents_every_setting() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    assert aliases - documented == set()
