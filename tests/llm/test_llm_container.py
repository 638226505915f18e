"""The composition root picks the drafter from the settings."""

from __future__ import annotations

from collections.abc import Callable

from adapters.container import Container
from adapters.llm.openai_chat import OpenAIChatModel
from core.config import Settings
from core.drafting.composer import GroundedComposer
from core.drafting.llm import LLMDrafter


def test_no_llm_url_means_the_composer(make_settings: Callable[..., Settings]) -> None:
    container = Container(make_settings())
    assert isinstance(container.drafter(), GroundedComposer)


def test_an_llm_url_means_the_llm_drafter_with_the_composer_behind_it(
    make_settings: Callable[..., Settings],
) -> None:
    container = Container(
        make_settings(
            llm_base_url="http://127.0.0.1:1/v1",
            llm_model="smollm2",
            llm_timeout_s=7,
            llm_json_mode="json_object",
        )
    )
    drafter = container.drafter()
    assert isinstance(drafter, LLMDrafter) and drafter is container.drafter()
    assert drafter.fallback is container.composer
    assert (drafter.prompt.id, drafter.prompt.version, drafter.timeout_s) == (
        "drafting/reply",
        1,
        7,
    )
    assert isinstance(drafter.chat, OpenAIChatModel)
    assert (drafter.chat.model_name, drafter.chat.json_mode) == ("smollm2", "json_object")
