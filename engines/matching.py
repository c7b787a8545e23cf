"""Matching an Odoo customer with the records an engine account already holds (engine-neutral).

An engine's search is a hint, not a verdict: Fakturoid's is full-text, Fakturownia's filters
by field. So every candidate an engine returns is compared here, exactly, on the one
identifier it was searched by, after normalising both sides. The identifiers are tried
in a fixed order, most specific first, and the first one with any exact match decides:

    registration number (IČO) → VAT number (DIČ) → e-mail

A single match is adopted when it carries no key or ours; anything else (several
matches, or one that already belongs to another record) is left to a person.

Engines supply ``customer_by_key`` and ``search_customers`` (see ``base.EngineClient``):
Fakturoid searches ``subjects/search.json?query=`` whatever the field; Fakturownia will map
``vat_no`` to ``clients.json?tax_no=`` and ``email`` to ``?email=`` (reference §3.2), and
has no filter for ``registration_no`` (REGON), so it answers ``[]`` there.
"""
import dataclasses
import re

from .errors import AmbiguousCustomer

MATCH_ORDER = ("registration_no", "vat_no", "email")
FIELD_LABELS = {
    "key": "own reference",
    "registration_no": "registration number",
    "vat_no": "VAT number",
    "email": "e-mail",
}
_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


def normalise(field, value):
    """The comparable form of an identifier: "cz 255 966 41" and "CZ25596641" are one VAT number."""
    value = (value or "").strip()
    if field == "email":
        return value.lower()
    return _NOT_ALPHANUMERIC.sub("", value).upper()


def identifiers(party):
    """``(field, normalised value)`` pairs ``party`` can be matched on, in matching order."""
    pairs = ((field, normalise(field, getattr(party, field))) for field in MATCH_ORDER)
    return [(field, value) for field, value in pairs if value]


def exact_matches(field, value, candidates):
    """The candidates whose ``field`` equals ``value`` once normalised, tagged with ``matched_on``."""
    unique = {}
    for candidate in candidates:
        if normalise(field, getattr(candidate, field)) == value:
            unique.setdefault(candidate.id, dataclasses.replace(candidate, matched_on=field))
    return list(unique.values())


def choose(party, field, value, matches, engine_label):
    """The one match to adopt, or ``AmbiguousCustomer`` listing the matches."""
    if len(matches) == 1 and matches[0].key in ("", party.key):
        return matches[0]
    raise AmbiguousCustomer(_ambiguity_message(party, field, value, matches, engine_label), candidates=matches)


def _ambiguity_message(party, field, value, matches, engine_label):
    what = f"{party.name} ({FIELD_LABELS[field]} {value})"
    if len(matches) == 1:
        match = matches[0]
        return (
            f"The {engine_label} customer {describe(match)} matches {what} but is already linked to "
            f"another record (reference {match.key})."
        )
    listed = ", ".join(describe(match) for match in matches)
    return f"{len(matches)} {engine_label} customers match {what}: {listed}."


def describe(candidate):
    return f"“{candidate.name}” (id {candidate.id})"
