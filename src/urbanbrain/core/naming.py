"""How names become identifiers: `Market Regulation`/`enterprise-registry`/`Companies` ->
`market.enterprise_registry.companies`, the dotted dataset name analysts type in SQL."""

from __future__ import annotations

import re

from urbanbrain.core.errors import ValidationError

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def sql_identifier(name: str) -> str:
    """Lower-case, `-`/space/dots to `_`, drop anything else unsafe; must start with a letter.

    >>> sql_identifier("Enterprise-Registry")
    'enterprise_registry'
    """
    text = name.strip().lower()
    text = re.sub(r"[\s\-./]+", "_", text)
    text = re.sub(r"[^a-z0-9_]", "", text)
    text = re.sub(r"_+", "_", text).strip("_")
    if text and not text[0].isalpha():
        text = f"t_{text}"
    return text[:63]


def validate_code(code: str, what: str) -> str:
    """Department codes and system names become SQL identifiers, so they must already be clean-ish."""
    if not code or not re.match(r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$", code):
        raise ValidationError(
            f"invalid {what} {code!r}",
            hint="use 1-63 letters, digits, '-' or '_', starting with a letter (e.g. 'enterprise-registry')",
        )
    return code


def column_identifier(name: str, taken: set[str]) -> str:
    """A lake column name for a source column; keeps non-ASCII (Chinese headers) but drops quotes.

    Chinese government exports use Chinese column headers; they stay readable in the lake and are
    quoted in SQL. Empty or duplicate names get a positional suffix so nothing is silently merged.
    """
    text = name.strip().replace('"', "").replace("\n", " ")
    if not text:
        text = "column"
    candidate = text
    n = 2
    while candidate.lower() in taken:
        candidate = f"{text}_{n}"
        n += 1
    taken.add(candidate.lower())
    return candidate


def dataset_name(dept_code: str, system_name: str, object_name: str) -> str:
    return ".".join(sql_identifier(p) for p in (dept_code, system_name, object_name))


def is_identifier(text: str) -> bool:
    return bool(_IDENT.match(text))
