"""runtime.prompt: the single rendering of chat windows shared by training and serving."""

from __future__ import annotations

from runtime.prompt import Turn, chat_messages, format_window, renumber_placeholders


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
