"""Other redaction libraries, measured on the same corpus as the redactor: scrubadub, Presidio.

The ratio to the hand-written filter says whether the redactor is worth adopting over a
team's own regexes; the peers say where it stands among libraries a team might adopt instead.
Each peer is built the way its documentation suggests for "redact this text", with its default
detectors, and wrapped as a plain ``str -> str`` function so the runner times it exactly like
``HandWrittenFilter.redact``:

* **scrubadub 2.x**: one ``scrubadub.Scrubber()`` (default detectors: credential, credit card,
  email, phone, SSN, twitter, url), ``scrubber.clean(line)``.
* **Microsoft Presidio**: ``AnalyzerEngine`` with the predefined recognizers, then
  ``AnonymizerEngine.anonymize`` with its default ``replace`` operator (``<CREDIT_CARD>``).
  Presidio's default NLP engine loads ``en_core_web_lg`` and downloads it if missing; there is
  no such download here, and a 500 MB NER model is not what a log pipeline would run anyway.
  So the NLP engine is configured through presidio's own ``NlpEngineProvider`` with a *blank*
  English spaCy pipeline (tokenizer only, saved to a temporary directory and loaded by path,
  which presidio accepts without a download). The pattern recognizers (cards with Luhn, IBAN,
  email, phone, SSN, URL, IP, ...) are unaffected; only the NER-based entities (PERSON,
  LOCATION, ...) are never found, which the corpus does not plant anyway.

Both are slow (tens to hundreds of lines/s), so the runner measures them on the first N lines of
the corpus (``subset``) and scores recall on that subset; it also scores the redactor on the
same subset so the recall columns compare like with like.

Both libraries are optional (``pip install -e '.[benchmark]'``) and heavy; they are imported
only when a peer is built, through ``importlib`` so that type-checking this module needs none
of them installed.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

from benchmarks.corpus import Corpus

__all__ = ["PEERS", "Peer", "build_presidio", "build_scrubadub", "head", "versions"]


@dataclass(frozen=True, slots=True)
class Peer:
    """A redaction library to compare against: how to build it, and how many lines to feed it."""

    key: str
    """Row key in the report and the JSON (``results.<key>``)."""
    label: str
    """Human-readable row label; the runner appends the subset size."""
    subset: int
    """Default number of leading corpus lines to measure on; the peer is too slow for 100k."""
    distributions: tuple[str, ...]
    """PyPI distributions whose versions are recorded in the run's metadata."""
    build: Callable[[], Callable[[str], str]]
    """Import and construct the peer (untimed); returns the per-line redaction function."""


def head(corpus: Corpus, n: int) -> Corpus:
    """The first ``n`` lines with their planted values, so recall is scored on the same lines."""
    return Corpus(
        lines=corpus.lines[:n],
        planted=[plant for plant in corpus.planted if plant[0] < n],
    )


def versions(distributions: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions, ``None`` for a missing distribution; never raises."""
    found: dict[str, str | None] = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def build_scrubadub() -> Callable[[str], str]:
    """A default ``scrubadub.Scrubber``; ``clean`` replaces findings with ``{{KIND}}``."""
    scrubadub = importlib.import_module("scrubadub")
    scrubber = scrubadub.Scrubber()
    clean: Callable[[str], str] = scrubber.clean
    return clean


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the duration of an import, then restore it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def build_presidio() -> Callable[[str], str]:
    """Presidio analyzer + anonymizer on a blank spaCy pipeline; see the module docstring."""
    # tldextract (used by presidio's EmailRecognizer) reads this when it is imported and would
    # otherwise try to download the public suffix list on the first e-mail, failing after a DNS
    # timeout on a machine without internet. Empty means "use the bundled snapshot", which is
    # what it falls back to anyway, minus the network attempt inside the timed loop.
    with _env("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", ""):
        spacy = importlib.import_module("spacy")
        analyzer_mod = importlib.import_module("presidio_analyzer")
        nlp_mod = importlib.import_module("presidio_analyzer.nlp_engine")
        anonymizer_mod = importlib.import_module("presidio_anonymizer")

    with tempfile.TemporaryDirectory(prefix="presidio-blank-en-") as model_dir:
        # A model given by path is loaded as is: presidio only downloads names that are
        # neither an installed package nor an existing path.
        spacy.blank("en").to_disk(model_dir)
        provider = nlp_mod.NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": model_dir}],
            }
        )
        # AnalyzerEngine loads the NLP engine in its constructor, so the directory may go
        # once it returns; the default registry brings the predefined recognizers.
        analyzer = analyzer_mod.AnalyzerEngine(
            nlp_engine=provider.create_engine(), supported_languages=["en"]
        )
    anonymizer = anonymizer_mod.AnonymizerEngine()
    analyze, anonymize = analyzer.analyze, anonymizer.anonymize

    def redact(line: str) -> str:
        found = analyze(text=line, language="en")
        text: str = anonymize(text=line, analyzer_results=found).text
        return text

    return redact


PEERS: tuple[Peer, ...] = (
    Peer(
        key="scrubadub",
        label="peer: scrubadub Scrubber.clean per line",
        subset=10_000,
        distributions=("scrubadub",),
        build=build_scrubadub,
    ),
    Peer(
        key="presidio",
        label="peer: Presidio analyze+anonymize per line (blank spaCy)",
        subset=2_000,
        distributions=("presidio-analyzer", "presidio-anonymizer", "spacy"),
        build=build_presidio,
    ),
)
"""Measured in this order; the faster one first so a slow Presidio run shows the other's row."""
