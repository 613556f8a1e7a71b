"""Configuration: models, loading, fingerprint."""

from subwarden.config.loader import ConfigError, fingerprint, load_config, parse_config, redact_url
from subwarden.config.models import GatewayConfig

__all__ = ["ConfigError", "GatewayConfig", "fingerprint", "load_config", "parse_config", "redact_url"]
