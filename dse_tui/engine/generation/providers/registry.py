"""Provider names -> classes, for the tiers in models.yaml. Importing this imports no SDK.

The scripted provider answers from a list of replies: it exists for tests and is in the
registry only where DSE_TEST_PROVIDERS=1 is set (the test suite sets it, so `dse`
processes that tests start can use it too); a user's models.yaml cannot name it.
"""

from __future__ import annotations

import os

from .base import Provider, TierConfig

TEST_PROVIDERS_ENV = "DSE_TEST_PROVIDERS"
_CLASSES = {
    "embedded": ("dse_tui.engine.generation.providers.embedded", "EmbeddedProvider"),
    "ollama": ("dse_tui.engine.generation.providers.ollama_api", "OllamaProvider"),
    "anthropic": ("dse_tui.engine.generation.providers.anthropic_api", "AnthropicProvider"),
}
_TEST_CLASSES = {
    "scripted": ("dse_tui.engine.generation.providers.scripted", "ScriptedProvider"),
}
PROVIDER_NAMES = tuple(_CLASSES)
# What a tier's `options` may set, per provider (the model comes from the tier itself).
PROVIDER_OPTIONS = {
    "embedded": ("model_path", "n_ctx", "n_threads"),
    "ollama": ("host",),
    "anthropic": ("api_key", "base_url"),
    "scripted": ("replies", "available", "name"),
}


def registered() -> dict[str, tuple[str, str]]:
    if os.environ.get(TEST_PROVIDERS_ENV) == "1":
        return {**_CLASSES, **_TEST_CLASSES}
    return dict(_CLASSES)


def provider_names() -> tuple[str, ...]:
    return tuple(registered())


def make_provider(name: str, **config) -> Provider:
    """A provider by registry name; `config` goes to its constructor
    (embedded: model_path, model, n_ctx, n_threads; ollama: host, model;
    anthropic: api_key, base_url, model)."""
    classes = registered()
    if name not in classes:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(classes)}")
    import importlib

    module, cls = classes[name]
    return getattr(importlib.import_module(module), cls)(**config)


def provider_for_tier(tier: TierConfig, **overrides) -> Provider:
    """The provider a tier names, configured from its `options` (and `overrides`)."""
    config = dict(tier.options)
    if tier.provider != "scripted":
        config.setdefault("model", tier.model)  # so available() checks the tier's model
    config.update(overrides)
    return make_provider(tier.provider, **config)
