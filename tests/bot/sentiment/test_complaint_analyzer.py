from __future__ import annotations

import pytest

from bot.sentiment import Label
from bot.sentiment.complaint_analyzer import ComplaintAnalyzer


def polarity(analyzer: ComplaintAnalyzer, text: str) -> float:
    return analyzer.analyze(text).polarity


def test_negation_flips_a_positive_word_into_a_complaint(complaints: ComplaintAnalyzer) -> None:
    result = complaints.analyze("The food was not good")
    assert result.label is Label.NEGATIVE
    assert result.complaint


def test_negation_turns_a_negative_word_mildly_positive(complaints: ComplaintAnalyzer) -> None:
    result = complaints.analyze("Not bad at all")
    assert result.label is Label.POSITIVE
    assert not result.complaint
    assert polarity(complaints, "Not bad at all") < polarity(complaints, "Good")


def test_negation_ends_with_its_clause(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("It doesn't work, terrible").complaint


@pytest.mark.parametrize("contracted", ["It doesn't work", "It doesnt work", "It does not work", "It didn\u2019t work"])
def test_contractions_with_and_without_apostrophe_negate(complaints: ComplaintAnalyzer, contracted: str) -> None:
    assert complaints.analyze(contracted).complaint


def test_intensifiers_strengthen_and_dampeners_weaken(complaints: ComplaintAnalyzer) -> None:
    assert polarity(complaints, "The delivery was very slow") < polarity(complaints, "The delivery was slow")
    assert polarity(complaints, "The delivery was slightly late") > polarity(complaints, "The delivery was late")
    assert polarity(complaints, "really great support") > polarity(complaints, "great support")


def test_a_negation_reaches_every_sentiment_word_within_three_words(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("The agent was not polite or helpful").complaint
    assert polarity(complaints, "not good or helpful") < polarity(complaints, "not good")


def test_never_so_is_emphasis_not_negation(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("I have never been so disappointed").complaint
    assert complaints.analyze("Never been this frustrated with a company").complaint
    assert not complaints.analyze("Never so happy with a purchase").complaint


@pytest.mark.parametrize(
    "praise", ["Couldn't be happier", "The staff couldn't have been nicer", "It couldn't have gone better"]
)
def test_a_negated_comparative_after_be_is_emphasis(complaints: ComplaintAnalyzer, praise: str) -> None:
    assert complaints.analyze(praise).label is Label.POSITIVE
    assert complaints.analyze("The service could not be worse").complaint
    assert complaints.analyze("It did not get better").complaint
    assert complaints.analyze("The next update won't be better").complaint
    assert complaints.analyze("Things will never be better").complaint
    assert not complaints.analyze("It can't be a disaster").complaint


def test_something_that_keeps_happening_is_a_nuisance(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("Customer service kept transferring me").complaint
    assert complaints.analyze("The app keeps asking for my password").complaint
    assert complaints.analyze("It keeps getting better").label is Label.POSITIVE
    assert not complaints.analyze("Keep doing what you're doing!").complaint
    assert complaints.analyze("The driver was friendly but kept calling me at night").complaint
    assert complaints.analyze("Keeps asking the same question").complaint
    assert not complaints.analyze("It keeps everything organised").complaint


def test_least_negates_the_word_after_it_but_at_least_does_not(complaints: ComplaintAnalyzer) -> None:
    assert polarity(complaints, "the least helpful agent") < 0 < polarity(complaints, "a helpful agent")
    assert polarity(complaints, "at least it was helpful") > 0


def test_degree_words_reach_back_three_words_and_include_vaders_list(complaints: ComplaintAnalyzer) -> None:
    assert polarity(complaints, "really not that good") < polarity(complaints, "not that good")
    assert polarity(complaints, "the app is freaking slow") < polarity(complaints, "the app is slow")
    assert polarity(complaints, "kind of slow") > polarity(complaints, "slow")


def test_repeated_question_marks_add_emphasis(complaints: ComplaintAnalyzer) -> None:
    assert polarity(complaints, "Why is my order late???") < polarity(complaints, "Why is my order late?")


def test_capitals_and_exclamation_marks_add_emphasis(complaints: ComplaintAnalyzer) -> None:
    assert polarity(complaints, "The support was AWFUL") < polarity(complaints, "The support was awful")
    assert polarity(complaints, "The support was awful!!") < polarity(complaints, "The support was awful")


def test_the_clause_after_but_outweighs_the_one_before(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("The staff were nice but the room was dirty").complaint
    assert not complaints.analyze("The room was a bit dirty but the staff were wonderful").complaint


@pytest.mark.parametrize(
    "text",
    [
        "Still waiting for my refund",
        "Waste of money.",
        "I was charged twice for one order",
        "The app keeps crashing",
        "Package arrived damaged",
        "Customer service was rude and unhelpful",
        "It stopped working after a week",
        "My order never arrived",
        "Nobody answered my emails",
        "I didn't receive my order",
        "Never again.",
        "Do not buy this",
        "Way too expensive",
        "Why does it take so long?",
        "I want my money back",
        "The courier was late and the box fell apart",
        "Been on hold for hours",
        "Cheaply made, poor quality",
        "No refund yet",
        "I didn't get a refund",
        "Support never replied",
        "They promised a callback that never came",
        "Couldn't reach anyone",
        "The website keeps logging me out",
        "It would be nice if you answered the phone",
        "Thank you for nothing",
        "Support closed my ticket without fixing anything",
        "I can't cancel my subscription online",
        "Quality has gone downhill",
        "The screen cracked within a week",
        "The app asks me to log in every single time",
        "My internet has been down since Tuesday",
        "I've sent three emails and heard nothing",
        "Support told me to reinstall, which did nothing",
        "Had to wait in the queue for an hour",
        "The new interface is a step backwards",
        "Could do better",
        "The product is ok but delivery took ages",
        "where is my order??",
        "Nobody bothered to call me back",
        "Fix your website!",
        "Billing is a nightmare.",
        "Lovely staff, but honestly the wait for a table was unacceptable.",
        "I've been a loyal customer for years but the changes to your loyalty scheme are a joke.",
        "I was promised a call back within 24 hours.",
        "Ordered a birthday cake, got someone else's order",
        "Half the menu was unavailable",
        "IT took a week to reset my password",
        "Procurement takes forever to approve anything",
        "Meeting rooms are always double booked",
    ],
)
def test_plain_customer_complaints_are_complaints(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).complaint


@pytest.mark.parametrize(
    "text",
    [
        "Great service, thanks!",
        "Fast delivery and a fair price",
        "No complaints",
        "No problem at all",
        "Nothing to add",
        "No",
        "Works as expected",
        "I can't wait to try it",
        "The staff were very friendly",
        "Hello",
        "",
        "Couldn't be happier",
        "Never had an issue",
        "I had no issues",
        "Would order again",
        "The refund arrived today, thanks",
        "Refund processed quickly, thank you",
        "Nothing to report",
        "No wait at all today",
        "Got my money back without any fuss",
    ],
)
def test_praise_and_neutral_answers_are_not_complaints(complaints: ComplaintAnalyzer, text: str) -> None:
    assert not complaints.analyze(text).complaint


@pytest.mark.parametrize(
    "text",
    [
        "They fixed the problem in minutes",
        "Support solved my issue quickly",
        "My problem was resolved the same day",
        "Thanks for fixing my issue so fast",
        "Thank you for solving my problem",
        "The update fixed the crashes I had",
        "Fixed the problem with no delay",
        "The problem was resolved without delay",
    ],
)
def test_a_remedied_problem_is_good_news(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).label is Label.POSITIVE


@pytest.mark.parametrize(
    "text",
    [
        "They never fixed the problem",
        "The update didn't fix the bug",
        "The issue was not resolved",
        "Please fix this bug",
        "Still having the same problem after the repair",
        "Fixed the wrong problem",
        "My complaint was handled badly",
        "The problem was resolved late",
        "My issue was resolved too slowly",
        "Problem fixed after terrible delays",
        "Nobody was handling my complaint",
        "No one is resolving my issue",
        "Nobody has resolved the issue",
    ],
)
def test_an_unremedied_or_badly_remedied_problem_is_a_complaint(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).complaint


@pytest.mark.parametrize(
    "text", ["Thanks for the late delivery", "Thank you for wasting my time", "Thanks for the very late delivery"]
)
def test_thanks_for_something_bad_are_sarcasm(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).complaint
    assert not complaints.analyze("Thanks for the quick delivery").complaint


@pytest.mark.parametrize(
    "text", ["Thank you for looking into my issue", "Thanks for helping me with the bug", "Thanks for the quick fix"]
)
def test_thanks_for_help_with_a_problem_are_thanks(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).label is Label.POSITIVE


@pytest.mark.parametrize("text", ["Late again \U0001f621", "\U0001f44e", "Delivery took two weeks \U0001f612"])
def test_angry_and_disappointed_emoji_are_complaints(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).complaint


@pytest.mark.parametrize("text", ["Arrived on time \U0001f44d", "\u2764\ufe0f", "Thanks \U0001f60a\U0001f60a"])
def test_happy_emoji_are_positive(complaints: ComplaintAnalyzer, text: str) -> None:
    assert complaints.analyze(text).label is Label.POSITIVE


def test_polarity_stays_within_bounds(complaints: ComplaintAnalyzer) -> None:
    worst = "TERRIBLE!!! Worst service ever, rude, useless, scam, waste of money, never again!!!!"
    assert -1.0 <= polarity(complaints, worst) < -0.9
    assert 0.9 < polarity(complaints, "AMAZING!!! Best, wonderful, perfect, lovely service ever :)") <= 1.0


def test_the_threshold_is_the_operators_knob() -> None:
    mild = "The delivery was slightly late"
    assert ComplaintAnalyzer(complaint_threshold=0.0).analyze(mild).complaint
    assert not ComplaintAnalyzer(complaint_threshold=-0.9).analyze(mild).complaint


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Очень плохое обслуживание", None),
        ("服务太差了", None),
        ("الخدمة سيئة جدا", None),
        ("El producto no funciona y el servicio es muy malo", None),
        ("Le produit est cassé et le service est nul", None),
        ("Terrible service", "es"),
        ("Terrible service", "pt-BR"),
    ],
)
def test_other_languages_are_unknown_and_never_complaints(
    complaints: ComplaintAnalyzer, text: str, language: str | None
) -> None:
    result = complaints.analyze(text, language)
    assert result.label is Label.UNKNOWN
    assert not result.complaint
    assert result.polarity == 0.0


@pytest.mark.parametrize("language", [None, "en", "en-GB", "EN_us"])
def test_english_hints_are_read(complaints: ComplaintAnalyzer, language: str | None) -> None:
    assert complaints.analyze("Terrible service", language).complaint


def test_subjectivity_is_textblobs_mean_over_rated_words(complaints: ComplaintAnalyzer) -> None:
    assert complaints.analyze("The support was terrible").subjectivity == 1.0
    assert complaints.analyze("The parcel arrived on Tuesday").subjectivity == 0.0
