from __future__ import annotations

from bot.sentiment.tokens import phrase_words, tokenize

NO_EMOTICONS: frozenset[str] = frozenset()


def words(text: str, emoticons: frozenset[str] = NO_EMOTICONS) -> list[str]:
    return [token.word for token in tokenize(text, emoticons)]


def test_contractions_are_expanded() -> None:
    assert words("I can't, it won't") == ["i", "can", "not", ",", "it", "will", "not"]
    assert words("dont") == ["do", "not"]


def test_addresses_mentions_and_html_entities_are_not_words() -> None:
    assert words("@shop https://ow.ly/x &amp; www.example.com") == []


def test_emoticons_are_kept_whole_when_the_lexicon_knows_them() -> None:
    assert words("late again :(", frozenset({":("})) == ["late", "again", ":("]


def test_capitals_count_as_shouting_only_among_lower_case() -> None:
    assert [token.shouting for token in tokenize("so BAD", NO_EMOTICONS)] == [False, True]
    assert [token.shouting for token in tokenize("SO BAD", NO_EMOTICONS)] == [False, False]


def test_phrases_are_expanded_like_text() -> None:
    assert phrase_words("Doesn't work") == ("does", "not", "work")
