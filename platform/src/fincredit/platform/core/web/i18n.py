"""Chinese first, English on request (``?lang=en`` or the ``lang`` cookie). The pages use keys, never
hard-coded user-visible text; the texts are gettext catalogues, ``locales/<lang>/LC_MESSAGES/messages.po``
beside this module, with the key as msgid. A template calls ``t('nav.home')``, ``t('bank.showing',
total=.., page=.., pages=..)`` (``str.format`` fields) and ``label('reason', code)`` for an internal code.

To add a message, write the key in the page and one entry in each ``.po`` file (a counted text, with a
value ``n``, as ``msgid_plural`` with one form per language's plural rule). The catalogues are the source:
``pybabel extract`` (configured in platform/pyproject.toml) lists the literal keys the pages use, but
``pybabel update`` would mark the keys built at run time (``'purpose.' ~ code``) obsolete, so it is not
used. tests/platform/test_web_messages.py names any key or code without a text in either language.

The ``.po`` files are read with Babel when the module is imported (~0.2 s, mostly importing Babel), not
compiled to ``.mo`` at install: the files in the wheel are the files translators edit, and a broken
catalogue fails the start of the service instead of a page.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

LANGS = ("zh", "en")
DOMAIN = "messages"
LOCALES = Path(__file__).parent / "locales"


@dataclass(frozen=True)
class Catalogue:
    """One language's messages: a text per key, or a tuple of plural forms for a message with a count."""

    lang: str
    messages: Mapping[str, str | tuple[str, ...]]
    plural: Callable[[int], int]

    def text(self, key: str, n: object = None) -> str | None:
        """The text of ``key`` (the plural form for ``n`` where it has forms); None when it is missing or
        not translated yet."""
        entry = self.messages.get(key)
        if isinstance(entry, tuple):
            entry = entry[self.plural(n) if isinstance(n, int) else -1] if entry else ""
        return entry or None


def catalogue_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(lang: str) -> Catalogue:
    with catalogue_path(lang).open("rb") as file:
        po = read_po(file, locale=lang, domain=DOMAIN)
    messages: dict[str, str | tuple[str, ...]] = {}
    for message in po:
        # The header has an empty id; a fuzzy entry is a guess nobody has checked, as gettext treats it.
        if not message.id or message.fuzzy:
            continue
        key = message.id[0] if isinstance(message.id, tuple | list) else message.id
        string = message.string
        messages[key] = tuple(string) if isinstance(string, tuple | list) else (string or "")
    return Catalogue(lang, messages, gettext.c2py(po.plural_expr))


CATALOGUES: dict[str, Catalogue] = {lang: read_catalogue(lang) for lang in LANGS}


def has_message(key: str) -> bool:
    return CATALOGUES["zh"].text(key) is not None


def label(kind: str, code: str, lang: str = "zh") -> str:
    """The words for an internal code shown to people (a purpose, a refusal reason, a board theme, a kind
    of subject), from the same catalogue under the key ``<kind>.<code>``; the code itself where no text is
    written, so a new code is visible as such rather than hidden."""
    text = CATALOGUES.get(lang, CATALOGUES["zh"]).text(f"{kind}.{code}")
    return code if text is None else text


def labeller(lang: str) -> Callable[[str, str], str]:
    """``label`` for one language, as the templates call it: ``label('reason', e.reason)``."""
    return lambda kind, code: label(kind, code, lang)


def translator(lang: str) -> Callable[..., str]:
    catalogue = CATALOGUES.get(lang, CATALOGUES["zh"])

    def t(key: str, **values: object) -> str:
        # Unknown keys fall back to their last segment, e.g. a new entry type still reads sensibly.
        text = catalogue.text(key, values.get("n"))
        if text is None:
            text = key.rsplit(".", 1)[-1]
        return text.format(**values) if values else text

    return t
