"""PII redaction for dataset exports.

Emails, phone numbers, payment card numbers, IBANs and IP addresses in a text are replaced by
typed placeholders (``[EMAIL]``...) and counted, so the data card can report what was removed.
Candidates are found by cheap regexes and confirmed by a real check (``phonenumbers``, the Luhn
and IBAN checksums from ``python-stdnum``, ``ipaddress``) to keep look-alikes such as dates,
versions, amounts and order numbers intact.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import phonenumbers
from phonenumbers import Leniency
from stdnum import iban, luhn

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "ip": "[IP]",
}

DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR")

_EMAIL_BODY = (
    r"[\w.!#$%&'*+/=?^`{|}~-]+"
    r"@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,63}(?![\w-])"
)
# The start is anchored on a non-local-part character so that a long run of word characters
# without a domain costs one pass, not one pass per starting position.
_EMAIL_RE = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])" + _EMAIL_BODY)
# Right after an address, the anchor would refuse the next one glued to it (a@b.io+c@d.io).
_EMAIL_GLUED_RE = re.compile(_EMAIL_BODY)
# Compact, or the printed form in groups of four; a group too many (a word after the IBAN) is
# trimmed off by the checksum search in _grouped_spans. Here and in the card and IPv4 regexes
# the lookbehinds come after the first characters, so that the regex engine can skip ahead to
# the next digit instead of trying every position: five times faster on ordinary prose.
_IBAN_RE = re.compile(
    r"[0-9]{2}(?<=[A-Za-z]{2}[0-9]{2})(?<![A-Za-z0-9][A-Za-z]{2}[0-9]{2})"
    r"[A-Za-z0-9]{0,30}(?: [A-Za-z0-9]{1,4}){0,8}(?![A-Za-z0-9])"
)
# A long unbroken digit run, or a first group of four then groups of 3-6 digits, as cards are
# printed (4-4-4-4, Amex 4-6-5, 4-4-4-4-3); groups of three are thousands (1 234 567 890 123).
# Digits after a '.' are a fraction or a version part, after a '+' a phone number. A comma is
# left alone: it separates fields (CSV) far more often than it starts a sixteen-digit fraction.
_CARD_RE = re.compile(
    r"[0-9](?<![\w.+][0-9])(?:[0-9]{12,18}|[0-9]{3}(?:[ -][0-9]{3,6}){1,5})(?!\w|\.[0-9])"
)
# A fifth dotted part ("1.2.3.4.5") or a letter before ("v1.2.3.4") makes it a version string.
_IPV4_RE = re.compile(
    r"[0-9](?<![\w.][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?!\w|\.[0-9])"
)
_IPV6_RE = re.compile(
    r"(?<![\w.])(?<![0-9A-Fa-f:]:)(?:[0-9A-Fa-f]{1,4}|(?=::))(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?:\.[0-9]{1,3}){3})?(?![\w:]|\.[0-9])"
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_ASCII_DIGITS = frozenset("0123456789")
_SEVEN_DIGITS_RE = re.compile(r"[0-9](?:[^0-9]*[0-9]){6}")
# phonenumbers also reads other scripts' digits (fullwidth, Arabic-Indic...).
_SEVEN_ANY_DIGITS_RE = re.compile(r"\d(?:\D*\d){6}")
# Where a phone number can be: seven or more digits with only short runs of punctuation between
# them. Letting the phone matcher see only these windows (plus a little context for its own
# checks of the neighbouring characters) instead of the whole text makes it ~50 times cheaper,
# as it otherwise parses every little number in the text once per region.
_PHONE_RUN_RE = re.compile(r"\d(?:[^\w\n]{0,4}\d){6,}")
_PHONE_CONTEXT = 8
# Dates are the commonest seven-plus-digit runs in prose and never phone numbers; skipping them
# before the matcher saves its most expensive work on ordinary text.
_DATE_RE = re.compile(r"\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{4}")
# Issuer ranges of the card networks in use (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro) start with 2-6; other leading digits are mostly timestamps and ids that
# happen to pass Luhn, which one random number in ten does.
_CARD_FIRST_DIGITS = frozenset("23456")
_IBAN_MIN, _IBAN_MAX = 15, 34
_CARD_MIN, _CARD_MAX = 13, 19
_MAX_PASSES = 8

Span = tuple[int, int]


class Redactor:
    """Replaces PII in texts by typed placeholders and counts what it replaced, per kind.

    One instance serves a whole export; ``counts`` then holds the totals for the data card.
    """

    def __init__(self, *, phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS) -> None:
        # International numbers (with a leading +) are found whatever the region; the regions
        # only add the national formats that are recognised without one. With none, "ZZ"
        # (phonenumbers' unknown region) still finds the international ones.
        self.phone_regions: tuple[str, ...] = tuple(r.upper() for r in phone_regions) or ("ZZ",)
        self.counts: Counter[str] = Counter(dict.fromkeys(PLACEHOLDERS, 0))

    def redact(self, text: str) -> str:
        """Return ``text`` with every email, phone number, card number, IBAN and IP address
        replaced by its placeholder, adding what was replaced to ``counts``."""
        # A replacement changes what its neighbours look like to the other passes (a phone
        # number glued to another by a slash is only seen once the other is gone), so the
        # passes repeat until one changes nothing: redacting the output again is then a no-op.
        # Text without PII takes one pass. The cap bounds the cost of contrived chains where
        # each pass frees just one more item.
        for _ in range(_MAX_PASSES):
            redacted = self._redact_once(text)
            if redacted == text:
                break
            text = redacted
        return text

    def _redact_once(self, text: str) -> str:
        if not text:
            return text
        # Emails first: their local part may hold digits a later pass would take for a number.
        if "@" in text:
            text = self._replace(text, "email", _email_spans(text))
        if _SEVEN_DIGITS_RE.search(text) is not None:
            # IBANs and cards before phones: a phone matcher happily eats part of either.
            text = self._replace(text, "iban", _iban_spans(text))
            text = self._replace(text, "card", _card_spans(text))
        # An IPv6 address is either compressed (::) or written out with seven colons.
        if "::" in text or text.count(":") >= 7:
            text = self._replace(text, "ip", _checked_spans(_IPV6_RE, text, _is_ipv6))
        if text.count(".") >= 3:
            text = self._replace(text, "ip", _checked_spans(_IPV4_RE, text, _is_ipv4))
        # IPs before phones: a dotted quad can pass for a number grouped with dots.
        if _SEVEN_DIGITS_RE.search(text) is not None or (
            not text.isascii() and _SEVEN_ANY_DIGITS_RE.search(text) is not None
        ):
            for region in self.phone_regions:
                windows = _phone_windows(text)
                if not windows:
                    break
                # Each region sees the text the previous ones left, so an international number
                # is parsed once, not once per region, and the earlier region wins an overlap.
                text = self._replace(text, "phone", _phone_spans(text, windows, region))
        return text

    def _replace(self, text: str, kind: str, spans: Iterable[Span]) -> str:
        placeholder = PLACEHOLDERS[kind]
        pieces: list[str] = []
        last = 0
        for start, end in _non_overlapping(spans):
            pieces.append(text[last:start])
            pieces.append(placeholder)
            last = end
            self.counts[kind] += 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def _phone_spans(text: str, windows: list[Span], region: str) -> Iterator[Span]:
    for window_start, window_end in windows:
        # STRICT_GROUPING: the digits must be grouped the way the region writes its numbers,
        # which keeps dates, ISBNs, version numbers and lists of numbers out.
        for match in phonenumbers.PhoneNumberMatcher(
            text[window_start:window_end], region, leniency=Leniency.STRICT_GROUPING
        ):
            if _is_plausible_phone(match.raw_string):
                yield window_start + match.start, window_start + match.end


def _phone_windows(text: str) -> list[Span]:
    windows: list[Span] = []
    for run in _PHONE_RUN_RE.finditer(text):
        if _DATE_RE.fullmatch(run.group()):
            continue
        start = max(0, run.start() - _PHONE_CONTEXT)
        end = min(len(text), run.end() + _PHONE_CONTEXT)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _is_plausible_phone(raw: str) -> bool:
    # An unformatted national digit run is far more often an id, a count, a timestamp or the
    # tail of a decimal (3.14159265358) than a phone number; with a + (E.164) it is one.
    return raw.startswith("+") or not raw.isdigit()


def _is_ipv4(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def _is_ipv6(candidate: str) -> bool:
    # Hex words joined by colons without a single digit (ffff::, cafe:babe::) are identifiers
    # far more often than addresses.
    if not any(char in _ASCII_DIGITS for char in candidate):
        return False
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    # Real addresses live in the assigned space (global unicast, ULA, link-local, multicast)
    # plus a few well-known reserved ones; the rest of the reserved space is where lookalikes
    # such as the Python slice a::b, 1::2 or the C++ scope ab::cd land.
    return (
        not address.is_reserved
        or address.is_loopback
        or address.ipv4_mapped is not None
        or address in _NAT64
    )


def _email_spans(text: str) -> Iterator[Span]:
    pos = 0
    while (found := _EMAIL_RE.search(text, pos)) is not None:
        match: re.Match[str] | None = found
        while match is not None:
            yield match.span()
            pos = match.end()
            match = _EMAIL_GLUED_RE.match(text, pos)


def _checked_spans(
    pattern: re.Pattern[str], text: str, is_valid: Callable[[str], bool]
) -> Iterator[Span]:
    for match in pattern.finditer(text):
        if is_valid(match.group()):
            yield match.span()


def _iban_spans(text: str) -> Iterator[Span]:
    # The regex match starts after the two letters of the country code (see _IBAN_RE).
    return _grouped_spans(_IBAN_RE, text, " ", _is_iban, lead=2)


def _card_spans(text: str) -> Iterator[Span]:
    return _grouped_spans(_CARD_RE, text, " -", _is_card)


def _grouped_spans(
    pattern: re.Pattern[str],
    text: str,
    separators: str,
    is_valid: Callable[[str], bool],
    *,
    lead: int = 0,
) -> Iterator[Span]:
    drop_separators = str.maketrans("", "", separators)
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        start = match.start() - lead
        candidate = text[start : match.end()]
        group_ends = [i for i, char in enumerate(candidate) if char in separators]
        group_ends.append(len(candidate))
        # Candidate regexes are greedy and may swallow a neighbouring group (a word after an
        # IBAN, a year after a card number): try the whole candidate, then drop groups from
        # the end.
        for end in reversed(group_ends):
            if is_valid(candidate[:end].translate(drop_separators)):
                yield start, start + end
                pos = start + end
                break
        else:
            # Retrying inside the candidate would only find a suffix of something that failed
            # its checksum; the next one can start at the next group at the earliest.
            pos = start + group_ends[0]


def _is_iban(compact: str) -> bool:
    return _IBAN_MIN <= len(compact) <= _IBAN_MAX and iban.is_valid(compact)


def _is_card(digits: str) -> bool:
    return (
        _CARD_MIN <= len(digits) <= _CARD_MAX
        and digits[0] in _CARD_FIRST_DIGITS
        and luhn.is_valid(digits)
    )


def _non_overlapping(spans: Iterable[Span]) -> Iterator[Span]:
    # The finders yield ordered, disjoint spans; enforcing it here means no finder, present or
    # future, can garble the text with overlapping replacements. The earliest, then longest,
    # wins, whatever the order the spans came in.
    last_end = 0
    for start, end in sorted(set(spans), key=lambda span: (span[0], -span[1])):
        if start >= last_end and end > start:
            yield start, end
            last_end = end
