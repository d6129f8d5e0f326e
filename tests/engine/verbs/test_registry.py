"""Every verb the parsers make has its module in the one table."""

from __future__ import annotations

import typing

from callgate.core import verbs as v
from callgate.engine.verbs import dial, echo, gather, registry, say, start


def test_every_verb_has_a_module():
    assert set(registry.VERBS) == set(typing.get_args(v.Verb))


def test_the_registry_maps_each_verb_to_its_module():
    assert registry.runner_for(v.Say(text="hi")) is say.run
    assert registry.runner_for(v.Gather()) is gather.run
    assert registry.runner_for(v.Dial(targets=())) is dial.run
    assert registry.runner_for(v.Echo()) is echo.run
    assert registry.runner_for(v.StopRecording()) is start.run
