"""runtime.prompt: the single rendering of chat windows shared by training and serving."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.prompt import (
    Turn,
    chat_messages,
    format_window,
    prerender,
    renumber_placeholders,
    renumbered_window,
)


def test_window_is_one_line_per_message_with_non_text_as_tokens():
    window = format_window(
        [
            Turn("<U3>", "text", "are you home?\nI'm outside"),
            Turn("<U3>", "image", "<msg><img/></msg>"),
            Turn("<TARGET>", "link", "Tomato growing tips"),
            Turn("<U1>", "quote", "me too", quote_of="I miss the dumplings", quote_speaker="<U3>"),
        ]
    )
    assert window.splitlines() == [
        "<U3>: are you home? / I'm outside",
        "<U3>: [image]",
        "<TARGET>: [link] Tomato growing tips",
        '<U1>: (replying to <U3>: "I miss the dumplings") me too',
    ]


def test_per_window_numbering_follows_first_appearance_including_mentions():
    turns = renumber_placeholders(
        [
            Turn("<U7>", "text", "hi @<U2>\u2005"),
            Turn("<TARGET>", "text", "hello"),
            Turn("<U2>", "text", "yo <U7>"),
        ]
    )
    assert [t.speaker for t in turns] == ["<U1>", "<TARGET>", "<U2>"]
    assert turns[0].text == "hi @<U2>\u2005"
    assert turns[2].text == "yo <U1>"


def test_chat_messages_put_memory_before_the_window_and_reply_last():
    msgs = chat_messages("be her", "<U1>: hi", memory=["<TARGET>: my cat is Mochi"], reply="hello~")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[1]["content"] == "Things said before:\n- <TARGET>: my cat is Mochi\n\n<U1>: hi"
    assert chat_messages("be her", "<U1>: hi")[-1]["role"] == "user"


PLACEHOLDERS = st.sampled_from(["<TARGET>", "<U1>", "<U2>", "<U7>", "<U12>"])
TURNS = st.builds(
    Turn,
    speaker=PLACEHOLDERS,
    kind=st.sampled_from(["text", "quote", "image", "link"]),
    text=st.one_of(
        st.sampled_from(["吃了吗", "ok ~ 🌻", "<U7> 你好", "(replying to <U2>: x", ""]), st.text(max_size=8)
    ),
    quote_of=st.sampled_from(["", "昨天说的那个", "<U12> 说的 " * 5]),
    quote_speaker=st.one_of(st.just(""), PLACEHOLDERS),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(TURNS, max_size=12))
def test_prerendered_windows_are_byte_identical_to_the_reference_rendering(turns):
    assert renumbered_window([prerender(t) for t in turns]) == format_window(renumber_placeholders(turns))
