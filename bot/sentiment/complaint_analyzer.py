"""The complaint detector: a rule-based scorer in the manner of VADER over a wider lexicon with complaint phrases.

Each sentiment word or phrase of the text gets its lexicon valence (-4..+4, the mean human rating), adjusted within
its clause: a degree word before it strengthens or weakens it ("very slow", "slightly late"), a negation before it
flips and damps it ("not good" is negative, "not bad" mildly positive), capitals among lower-case words strengthen
it, and negative valences weigh more than positive ones. Three cues of plain complaints add a negative valence of
their own: a negation that meets no sentiment word ("it didn't arrive"), "too" before a neutral word ("too long")
and a question asking why. After "but" the text counts more than before it. The sum, plus the emphasis of
exclamation marks, is squashed into -1..+1 with VADER's normalization, which is close to sum/4 for small sums: so
the polarity reads roughly as the raters' mean divided by 4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import fmean

from bot.sentiment import Label, Sentiment, label_for
from bot.sentiment.language import reads_as_english
from bot.sentiment.lexicon import Lexicon, load_lexicon
from bot.sentiment.tokens import Token, tokenize

# VADER's empirically derived constants (Hutto & Gilbert 2014).
NEGATION_SCALAR = -0.74  # "not good" is less negative than "bad" is
SHOUTING_INCREMENT = 0.733  # a word in capitals among lower-case words
EXCLAMATION_INCREMENT = 0.292  # per "!", up to four
MAX_EXCLAMATIONS = 4
NORMALIZATION_ALPHA = 15
BEFORE_BUT_WEIGHT = 0.5
AFTER_BUT_WEIGHT = 1.5
# Readers weigh bad news more than good news of the same strength (the negativity bias).
NEGATIVITY_BIAS = 1.25
# A negation reaches the next sentiment word within this many words of its clause.
NEGATION_SCOPE = 3
# A negation that reaches no sentiment word still says that something expected did not happen: "it didn't
# arrive", "nobody called back", "the app doesn't load". Customer feedback is full of such plain complaints.
UNMET_EXPECTATION = -0.75
# "too" before a word without sentiment: an excess is a complaint ("too long", "too small").
EXCESS = -1.0
# A question asking "why" is mostly a reproach ("why does it take so long?").
WHY_QUESTION = -1.0

CLAUSE_PUNCTUATION = frozenset(".,;:!?")
SENTENCE_ENDS = frozenset(".!?")


class Negation:
    """The last negation of a clause: how many more words it reaches, and how many plain words it has passed."""

    def __init__(self) -> None:
        self.words_left = 0
        self.words_passed = 0

    def start(self) -> float:
        """A new negation; returns the valence of the one it replaces, if that one stayed unmet."""
        unmet = self.end()
        self.words_left = NEGATION_SCOPE
        return unmet

    def applies(self) -> bool:
        """Whether it reaches the sentiment word at hand, which uses it up."""
        reaches = self.words_left > 0
        self.words_left = self.words_passed = 0
        return reaches

    def pass_plain_word(self) -> float:
        """A word without sentiment: the negation reaches one word less, and is unmet once it reaches none."""
        if not self.words_left:
            return 0.0
        self.words_left -= 1
        self.words_passed += 1
        return 0.0 if self.words_left else UNMET_EXPECTATION

    def end(self) -> float:
        """The clause ends: an open negation that passed words without meeting sentiment is unmet."""
        unmet = UNMET_EXPECTATION if self.words_left and self.words_passed else 0.0
        self.words_left = self.words_passed = 0
        return unmet


class ComplaintScorer:
    """Sums the lexicon valences of one text's words and phrases in their clause context; also rates how
    subjective the text is."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.phrases_by_first_word: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for phrase, valence in sorted(lexicon.phrases.items(), key=lambda item: -len(item[0])):
            self.phrases_by_first_word.setdefault(phrase[0], []).append((phrase, valence))

    def score(self, text: str) -> tuple[float, float]:
        """(polarity -1..+1, subjectivity 0..1) of one text."""
        tokens = tokenize(text, self.lexicon.emoticons)
        return self._polarity(tokens, text.count("!")), self._subjectivity(tokens)

    def _subjectivity(self, tokens: list[Token]) -> float:
        """TextBlob's measure: the mean subjectivity of the words its lexicon rates, 0 when there are none."""
        rated = [self.lexicon.subjectivities[t.word] for t in tokens if t.word in self.lexicon.subjectivities]
        return fmean(rated) if rated else 0.0

    def _polarity(self, tokens: list[Token], exclamations: int) -> float:
        total = 0.0
        weight = 1.0
        asking_why = False
        for opener, clause in self._clauses(tokens):
            if opener == "but":  # what follows "but" is what the writer means
                total *= BEFORE_BUT_WEIGHT
                weight = AFTER_BUT_WEIGHT
            if opener == "?" and asking_why:
                total += WHY_QUESTION
            if opener in SENTENCE_ENDS:
                asking_why = False
            asking_why = asking_why or any(token.word == "why" for token in clause)
            total += weight * self._clause_sum(clause)
        if total:
            total += math.copysign(min(exclamations, MAX_EXCLAMATIONS) * EXCLAMATION_INCREMENT, total)
        return total / math.sqrt(total * total + NORMALIZATION_ALPHA)

    def _clauses(self, tokens: list[Token]) -> Iterator[tuple[str, list[Token]]]:
        """The text cut at punctuation and clause words, each clause with the token that opened it."""
        opener, clause = "", list[Token]()
        for token in tokens:
            if token.word in CLAUSE_PUNCTUATION or token.word in self.lexicon.clause_breaks:
                yield opener, clause
                opener, clause = token.word, []
            else:
                clause.append(token)
        yield opener, clause

    def _clause_sum(self, clause: list[Token]) -> float:
        lexicon = self.lexicon
        total = 0.0
        negation = Negation()
        boost = 0.0  # from the degree words just before
        excess = False  # "too" just before
        i = 0
        while i < len(clause):
            token = clause[i]
            phrase_length, valence = self._phrase_at(clause, i)
            i += phrase_length or 1
            if not phrase_length:
                if token.word in lexicon.negators:
                    total += negation.start()
                    continue
                if token.word in lexicon.intensifiers:
                    boost += lexicon.intensifiers[token.word]
                    excess = excess or token.word == "too"
                    continue
                valence = lexicon.valences.get(token.word, 0.0) or (EXCESS if excess else 0.0)
            if valence:
                total += self._in_context(valence, token.shouting, boost, negation.applies())
            else:
                total += negation.pass_plain_word()
            boost, excess = 0.0, False
        return total + negation.end()

    def _phrase_at(self, tokens: list[Token], start: int) -> tuple[int, float]:
        """The longest lexicon phrase starting at `start`: (its length in words, its valence), or (0, 0.0)."""
        for phrase, valence in self.phrases_by_first_word.get(tokens[start].word, ()):
            end = start + len(phrase)
            if end <= len(tokens) and all(
                token.word == word for token, word in zip(tokens[start:end], phrase, strict=True)
            ):
                return len(phrase), valence
        return 0, 0.0

    @staticmethod
    def _in_context(valence: float, shouting: bool, boost: float, negated: bool) -> float:
        valence += math.copysign(1.0, valence) * boost  # a dampener's negative boost shrinks either sign
        if shouting:
            valence += math.copysign(SHOUTING_INCREMENT, valence)
        if negated:
            valence *= NEGATION_SCALAR
        return valence * NEGATIVITY_BIAS if valence < 0 else valence


class ComplaintAnalyzer:
    """English complaint detector for customer feedback.

    `complaint_threshold` applies to the polarity, which reads roughly as the raters' expected mean / 4: the default
    -0.125 flags texts that raters would average below -0.5 on their -4..+4 scale, the data sets' definition of a
    complaint. A lower threshold (e.g. -0.3) opens fewer, surer complaints. Text in another language (by the hint
    or by a cheap script and function-word check) gets label 'unknown' and is never a complaint.
    """

    name = "complaints"

    def __init__(self, complaint_threshold: float) -> None:
        self.complaint_threshold = complaint_threshold
        self.scorer = ComplaintScorer(load_lexicon())

    def analyze(self, text: str, language: str | None = None) -> Sentiment:
        if not reads_as_english(text, language):
            return Sentiment(0.0, None, Label.UNKNOWN, complaint=False, analyzer=self.name)
        polarity, subjectivity = self.scorer.score(text)
        return Sentiment(
            polarity=polarity,
            subjectivity=subjectivity,
            label=label_for(polarity),
            complaint=polarity < self.complaint_threshold,
            analyzer=self.name,
        )
