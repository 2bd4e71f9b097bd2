"""The API's refusals in the page's language (dashboard/error_texts.py), and the admin
pages' texts all in the pt-BR catalog."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from babel.messages.pofile import read_po

from save_server.infrastructure.dashboard.error_texts import KNOWN, translate
from save_server.infrastructure.dashboard.i18n import translations

PT = translations("pt_BR").gettext
DASHBOARD = resources.files("save_server.infrastructure.dashboard")
ADMIN_TEMPLATES = ("_id_tags_nav.html", "_id_tag_fields.html", "id_tags.html", "id_tag.html",
                   "id_tags_unknown.html", "id_tag_groups.html", "_scope_fields.html",
                   "accounts.html", "account.html", "api_keys.html")


@pytest.mark.parametrize(("english", "portuguese"), [
    ("no id tag ABC/1", "nenhuma id tag ABC/1"),
    ("1 error(s); nothing was imported", "1 erro(s); nada foi importado"),
    ("max_concurrent_charges: not a whole number: 'dois'",
     "max_concurrent_charges: não é um número inteiro: 'dois'"),
    ("id_tag: Field required; holder: String should have at most 200 characters",
     "id_tag: informe um valor; holder: no máximo 200 caracteres"),
    ("your role (viewer) lacks accounts:manage", "seu papel (viewer) não tem accounts:manage"),
    ("a key's role cannot exceed yours (viewer)",
     "o papel de uma chave não pode passar o seu (viewer)"),
    ("no charge 12 at charging station 'CS-1'", "nenhuma recarga 12 na estação 'CS-1'"),
    ("connector_id: Input should be greater than or equal to 1", "connector_id: no mínimo 1"),
    ("latitude: not a number", "latitude: não é um número"),
    ("id tag group APTO-1 is named in the load management of site(s) s-1 (Torre A), s-2 "
     "(Torre B): take it out of their group_priorities first",
     "o grupo de id tags APTO-1 é citado na gestão de carga do(s) local(is) s-1 (Torre A), "
     "s-2 (Torre B): retire-o primeiro do group_priorities desses locais"),
    ("something the table does not know", "something the table does not know"),
])
def test_known_messages_are_translated_and_others_kept(english: str, portuguese: str) -> None:
    assert translate(english, PT) == portuguese


def test_in_english_the_apis_own_messages_read_as_they_came() -> None:
    for message in ("no id tag ABC/1", "line 3: 2 cells; the header has 3"):
        assert translate(message, lambda msgid: msgid) == message


def translated() -> set[str]:
    with DASHBOARD.joinpath("locale/pt_BR/LC_MESSAGES/messages.po").open("rb") as po:
        return {m.id for m in read_po(po) if m.id and m.string}


def test_every_known_message_has_a_portuguese_translation() -> None:
    catalog = translated()
    assert [msgid for _, msgid in KNOWN if msgid not in catalog] == []


def test_every_text_of_the_admin_pages_is_in_the_catalog() -> None:
    templates, catalog, missing = DASHBOARD.joinpath("templates"), translated(), []
    for name in ADMIN_TEMPLATES:
        text = templates.joinpath(name).read_text(encoding="utf-8")
        for found in re.finditer(r"""_\(\s*(["'])(.*?)\1\s*\)""", text):
            if found.group(2) not in catalog:
                missing.append((name, found.group(2)))
    assert missing == []
