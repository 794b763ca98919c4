"""Email filters: their conditions, matched in plain Python.

A filter matches when every condition that is filled matches (case-insensitive,
Unicode-normalised). What a matching filter does is the filter's own (its action
methods on ``crm.mail.filter``); ``FilterOutcome`` is where the actions record it.
"""

import fnmatch
import unicodedata
from dataclasses import dataclass, field

from .addresses import domain_of


def normalize_text(text):
    """Case- and Unicode-insensitive form of ``text`` for comparisons."""
    return unicodedata.normalize("NFKC", text or "").casefold()


@dataclass(frozen=True)
class FilterRule:
    """The conditions of a filter, for matching many messages without the ORM."""

    id: int
    from_pattern: str = ""
    to_contains: str = ""
    subject_contains: str = ""
    body_contains: str = ""


@dataclass
class FilterOutcome:
    """What the matching filters' actions did to one message."""

    skip: bool = False
    folder_id: int | None = None
    mark_read: bool = False
    no_link: bool = False
    no_notify: bool = False
    matched: tuple = ()
    # Further values of the new email, set by actions that modules add.
    values: dict = field(default_factory=dict)


def match_address(pattern, address):
    """Match an address against ``pattern``: an address or a domain, ``*`` wildcards.

    ``alice@example.com``, ``*@example.com``, ``example.com`` (that domain) and
    ``*.example.com`` (its subdomains) are all accepted.
    """
    pattern = normalize_text(pattern).strip()
    address = normalize_text(address).strip()
    if not pattern or not address:
        return False
    if "@" in pattern:
        return fnmatch.fnmatchcase(address, pattern)
    domain = address.rpartition("@")[2]
    return fnmatch.fnmatchcase(domain, pattern)


def rule_matches(rule, message):
    """Whether ``rule`` matches ``message``.

    :param dict message: ``from_address``, ``recipients`` (list of addresses),
        ``subject`` and ``body`` (text)
    """
    conditions = 0
    if rule.from_pattern:
        conditions += 1
        patterns = [p for p in rule.from_pattern.replace(";", ",").split(",") if p.strip()]
        if not any(match_address(p, message.get("from_address", "")) for p in patterns):
            return False
    if rule.to_contains:
        conditions += 1
        needle = normalize_text(rule.to_contains)
        if not any(needle in normalize_text(addr) for addr in message.get("recipients", ())):
            return False
    if rule.subject_contains:
        conditions += 1
        if normalize_text(rule.subject_contains) not in normalize_text(message.get("subject")):
            return False
    if rule.body_contains:
        conditions += 1
        if normalize_text(rule.body_contains) not in normalize_text(message.get("body")):
            return False
    return conditions > 0


def parse_domains(text):
    """The domains of a comma- or semicolon-separated setting, stripped."""
    return [
        domain.strip() for domain in (text or "").replace(";", ",").split(",") if domain.strip()
    ]


def _domain_forms(domain):
    """A domain in its comparable forms (both forms of an internationalised name)."""
    domain = (domain or "").strip().lstrip("@").lower()
    return {normalize_text(form) for form in domain_of(f"x@{domain}")} if domain else set()


def domain_excluded(addresses, excluded_domains):
    """Whether any of ``addresses`` belongs to one of ``excluded_domains`` (or one of
    their subdomains), whichever form an internationalised domain is written in."""
    domains = set().union(*(_domain_forms(domain) for domain in excluded_domains))
    if not domains:
        return False
    for address in addresses:
        for domain in _domain_forms((address or "").rpartition("@")[2]):
            if domain in domains or any(domain.endswith("." + d) for d in domains):
                return True
    return False
