"""`specinterp plugins`: every thing a plugin provides is listed with its description."""

from __future__ import annotations

import json
from types import SimpleNamespace

from specinterp.plugins import PluginInfo, Registry, format_listing, listing

VERDICTS = {"mynet-random": {"model": "mynet", "explainers": {"peek": {"status": "failed", "failed": ["class"]}}}}


def registry() -> Registry:
    """Two plugins: one providing a model, a renderer and two explainers; one that failed to import."""
    good = PluginInfo("good", "good-dist", "1.2", provides={"models": ["mynet"], "explainers": ["peek", "blank"],
                                                            "renderers": ["svg"]})
    broken = PluginInfo("broken", "broken-dist", "0.1", errors=["RuntimeError: boom at import"])
    return Registry(plugins={"good": good, "broken": broken},
                    models={"mynet": SimpleNamespace(description="a tiny net")},
                    explainers={"peek": SimpleNamespace(description="where it peeks"),
                                "blank": SimpleNamespace(description="")},
                    renderers={"svg": SimpleNamespace(description="a vector picture")})


def test_the_json_listing_describes_every_kind_and_keeps_a_broken_plugin_plain():
    entries = {entry["name"]: entry for entry in json.loads(json.dumps(listing(registry(), VERDICTS)))}
    assert entries["good"]["descriptions"] == {"models": {"mynet": "a tiny net"},
                                               "explainers": {"peek": "where it peeks", "blank": ""},
                                               "renderers": {"svg": "a vector picture"}}
    assert entries["good"]["verdicts"] == {"peek": {"mynet-random": VERDICTS["mynet-random"]["explainers"]["peek"]},
                                           "blank": {}}
    assert entries["broken"] == {"name": "broken", "distribution": "broken-dist", "version": "0.1", "provides": {},
                                 "error": "RuntimeError: boom at import"}


def test_the_text_listing_has_a_line_per_thing_provided():
    assert format_listing(listing(registry(), VERDICTS)).splitlines() == [
        "broken  (broken-dist 0.1)  nothing",
        "  ERROR RuntimeError: boom at import",
        "good  (good-dist 1.2)  models: mynet; explainers: peek, blank; renderers: svg",
        "  mynet: a tiny net",
        "  peek: where it peeks | mynet-random failed (class)",
        "  blank: (no description) | not assessed",
        "  svg: a vector picture",
    ]
