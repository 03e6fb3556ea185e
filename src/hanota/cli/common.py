"""What every command shares: the settings, the migrated engine, the console."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import Engine

from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.logs import configure_logging
from hanota.settings import Settings

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def migrated_engine(settings: Settings) -> Engine:
    """The store at `settings.database_url`, brought up to the newest schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return make_engine(settings.database_url)
