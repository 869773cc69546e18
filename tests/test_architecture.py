"""Structural rules of the code base, checked on the source with ``ast``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
CORE = ["domain.py", "text.py", "errors.py", "stories", "summarize", "render"]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "discord", "openai", "apscheduler"}
# The LLM client module is the one summarize/ module allowed to wrap the openai SDK.
SDK_WRAPPERS = {BOT / "summarize" / "llm_client.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _core_files() -> list[Path]:
    files: list[Path] = []
    for entry in CORE:
        path = BOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_core_never_imports_platform_sdks() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & PLATFORM_SDKS)
        for path in _core_files()
        if path not in SDK_WRAPPERS and _imports(path) & PLATFORM_SDKS
    }
    assert offenders == {}


def test_core_does_no_network_io() -> None:
    network = {"httpx", "httpx2", "requests", "urllib3", "aiohttp", "socket"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & network)
        for path in _core_files()
        if path not in SDK_WRAPPERS and _imports(path) & network
    }
    assert offenders == {}


def test_adapters_never_import_each_other() -> None:
    adapters = {p.stem for p in (BOT / "adapters").glob("*.py") if p.stem != "__init__"}
    for path in (BOT / "adapters").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["bot", "adapters"] and len(parts) > 2:
                    assert parts[2] not in adapters - {path.stem}, (
                        f"{path.name} imports {node.module}"
                    )


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
