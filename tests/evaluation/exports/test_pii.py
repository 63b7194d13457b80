"""PII redaction for exports: exact output on a fixture of true and false positives, counts,
idempotence and robustness on odd input. Pure Python, no database."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from evaluation.exports.pii import PLACEHOLDERS, Redactor

CASES = json.loads(
    (Path(__file__).parent / "fixtures" / "pii_cases.json").read_text(encoding="utf-8")
)
KEPT = [case for case in CASES if case["input"] == case["expected"]]
REDACTED = [case for case in CASES if case["input"] != case["expected"]]


def placeholder_counts(text: str) -> Counter[str]:
    return Counter({kind: text.count(placeholder) for kind, placeholder in PLACEHOLDERS.items()})


def test_fixture_covers_every_kind_and_both_outcomes():
    assert len(CASES) >= 40
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert len(KEPT) >= 15
    redacted_kinds = sum((placeholder_counts(case["expected"]) for case in REDACTED), Counter())
    for kind in PLACEHOLDERS:
        assert redacted_kinds[kind] >= 4, kind


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_fixture_case_redacts_exactly(case):
    assert Redactor().redact(case["input"]) == case["expected"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_fixture_case_counts_each_placeholder_it_wrote(case):
    redactor = Redactor()
    redactor.redact(case["input"])
    assert redactor.counts == placeholder_counts(case["expected"])


def test_counts_accumulate_over_texts_and_start_at_zero_for_every_kind():
    redactor = Redactor()
    assert dict(redactor.counts) == dict.fromkeys(PLACEHOLDERS, 0)

    redactor.redact("write to a@example.com or b@example.org, call +44 20 7946 0958")
    redactor.redact("card 4111 1111 1111 1111, IBAN DE89370400440532013000, host 10.0.0.1 ::1")
    redactor.redact("nothing here, version 1.2.3 on 2024-01-15")

    assert dict(redactor.counts) == {"email": 2, "phone": 1, "card": 1, "iban": 1, "ip": 2}


def test_placeholders_are_the_documented_ones():
    assert PLACEHOLDERS == {
        "email": "[EMAIL]",
        "phone": "[PHONE]",
        "card": "[CARD]",
        "iban": "[IBAN]",
        "ip": "[IP]",
    }


def test_phone_regions_decide_which_national_formats_are_recognised():
    text = "national 030 12345678, international +1 415 555 2671"

    assert Redactor(phone_regions=("DE",)).redact(text) == "national [PHONE], international [PHONE]"
    assert Redactor(phone_regions=("US",)).redact(text) == (
        "national 030 12345678, international [PHONE]"
    )
    assert Redactor(phone_regions=()).redact(text) == "national 030 12345678, international [PHONE]"


def test_output_is_deterministic_across_instances():
    text = " ".join(case["input"] for case in CASES)

    assert Redactor().redact(text) == Redactor().redact(text)


def mixed_texts(count: int, seed: int) -> list[str]:
    """Fixture inputs cut into words and shuffled together, with odd glue between them, so
    that PII and look-alikes end up next to each other in ways nobody wrote by hand."""
    rng = random.Random(seed)
    words = [word for case in CASES for word in case["input"].split(" ") if word]
    glue = [" ", "  ", ", ", ".", ":", "-", "/", "\n", "(", ")", "", "[", "]", "@", "+"]
    texts = []
    for _ in range(count):
        parts = rng.choices(words, k=rng.randint(1, 12))
        texts.append("".join(part + rng.choice(glue) for part in parts))
    return texts


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_fixture_case_redacting_twice_is_redacting_once(case):
    once = Redactor().redact(case["input"])
    twice_redactor = Redactor()

    assert twice_redactor.redact(once) == once
    assert sum(twice_redactor.counts.values()) == 0


def test_redacting_twice_is_redacting_once_on_mixed_texts():
    for text in mixed_texts(400, seed=20240115):
        once = Redactor().redact(text)
        assert Redactor().redact(once) == once, text


def test_text_without_digits_or_at_comes_back_unchanged():
    rng = random.Random(7)
    # Hex letters, colons and dots are there to tempt the IPv6 and IPv4 passes.
    alphabet = "abcdefABCDEFxyzXYZ ::..--++()/[]_,;!?\n\t" + "éüßçø東京🙂\u200b\u202e"
    for _ in range(500):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 200)))
        redactor = Redactor()
        assert redactor.redact(text) == text
        assert sum(redactor.counts.values()) == 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\x00\x01\x7f",
        "\ud800 lone surrogate 415-555-2671 \udfff",
        "\u202eright-to-left override 030 12345678",
        "fullwidth ＋４４ ２０ ７９４６ ０９５８",
        "arabic-indic ٠١٢٣٤٥٦٧٨٩ ٠١٢٣٤٥٦٧٨٩",
        "1" * 50_000,
        "1 " * 20_000,
        "::1:" * 5_000,
        "a@" + "a." * 20_000,
        "DE89 " * 5_000,
        "+1 " * 10_000,
    ],
    ids=[
        "empty",
        "space",
        "control",
        "surrogates",
        "rtl",
        "fullwidth",
        "arabic-indic",
        "digit-run",
        "digit-list",
        "colons",
        "email-like",
        "iban-like",
        "plus-signs",
    ],
)
def test_never_raises_on_odd_input(text):
    assert isinstance(Redactor().redact(text), str)


def test_large_text_is_redacted_throughout():
    chunk = "Mail jane@example.com, call +44 20 7946 0958, host 10.0.0.1. " * 2
    text = chunk * 2_000

    redactor = Redactor()
    out = redactor.redact(text)

    assert "example.com" not in out
    assert "7946" not in out
    assert "10.0.0.1" not in out
    assert redactor.counts == Counter(email=4_000, phone=4_000, ip=4_000)
