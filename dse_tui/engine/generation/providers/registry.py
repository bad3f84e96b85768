"""Provider names -> classes. Importing this imports no SDK."""

from __future__ import annotations

from .base import Provider, TierConfig

_CLASSES = {
    "embedded": ("dse_tui.engine.generation.providers.embedded", "EmbeddedProvider"),
    "ollama": ("dse_tui.engine.generation.providers.ollama_api", "OllamaProvider"),
    "anthropic": ("dse_tui.engine.generation.providers.anthropic_api", "AnthropicProvider"),
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


def make_provider(name: str, **config) -> Provider:
    """A provider by registry name; `config` goes to its constructor
    (embedded: model_path, model, n_ctx, n_threads; ollama: host, model;
    anthropic: api_key, base_url, model; scripted: replies, available)."""
    if name not in _CLASSES:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_NAMES)}")
    import importlib

    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(module), cls)(**config)


def provider_for_tier(tier: TierConfig, **overrides) -> Provider:
    """The provider a tier names, configured from its `options` (and `overrides`)."""
    config = dict(tier.options)
    if tier.provider != "scripted":
        config.setdefault("model", tier.model)  # so available() checks the tier's model
    config.update(overrides)
    return make_provider(tier.provider, **config)
