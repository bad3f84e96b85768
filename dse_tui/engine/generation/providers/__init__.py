"""Model providers for the generation ladder (paper §4.9).

Import from here. Nothing in this package imports an LLM SDK at import
time; each provider imports its own SDK on first use.
"""

from .base import (
    ERROR_KINDS,
    Completion,
    Message,
    Provider,
    ProviderError,
    TierConfig,
    complete_tier,
    price,
)
from .ladder import Ladder, LadderConfigError, load_ladder, load_ladder_config
from .registry import PROVIDER_NAMES, make_provider, provider_for_tier
from .scripted import ScriptedCall, ScriptedProvider

__all__ = [
    "ERROR_KINDS",
    "Completion",
    "Message",
    "Provider",
    "ProviderError",
    "TierConfig",
    "complete_tier",
    "price",
    "Ladder",
    "LadderConfigError",
    "load_ladder",
    "load_ladder_config",
    "PROVIDER_NAMES",
    "make_provider",
    "provider_for_tier",
    "ScriptedCall",
    "ScriptedProvider",
]
