"""The dashboard's admin-side pages over the app (TestClient): id tags (search, create, edit,
block, CSV import/export, groups, unknown cards), accounts and API keys — each with the
same rules as its API, escaped, and its refusals in the reader's language."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.access import Permission, Principal, Role
from save_server.domain.id_tags import IdTag
from save_server.infrastructure.dashboard.id_tags_page import tag_url

PASSWORD = "correct horse battery staple"


def account(container: Container, role: str = "operator", **scope: Any) -> str:
    email = f"{role}-{uuid.uuid4().hex[:6]}@save.example"
    container.access_control().accounts.create_account(email, "Staff", Role(role), PASSWORD,
                                                       by="test", **scope)
    return email


def csrf(client: TestClient, path: str = "/ui/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def signed_in(container: Container, role: str = "operator", language: str = "en",
              **scope: Any) -> TestClient:
    client = TestClient(container.app(), headers={"Accept-Language": language})
    email = account(container, role, **scope)
    response = client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    client.headers["X-Test-Email"] = email  # who signed in, for the tests below
    return client


def token() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}"


def post(client: TestClient, path: str, data: dict[str, Any], page: str,
         **kwargs: Any) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf(client, page)},
                       follow_redirects=False, **kwargs)


def test_an_operator_creates_searches_edits_and_blocks_a_tag(container: Container) -> None:
    client = signed_in(container, "operator")
    tag = token()
    created = post(client, "/ui/id-tags", {"id_tag": tag, "holder": "<script>x</script>",
                                           "max_concurrent_charges": "2"}, "/ui/id-tags")
    assert created.status_code == 303, created.text
    shown = client.get(f"/ui/id-tags?q={tag}").text
    assert tag in shown and "&lt;script&gt;x&lt;/script&gt;" in shown
    assert "<script>x</script>" not in shown
    edited = post(client, f"/ui/id-tags/t/{tag}/edit",
                  {"holder": "Apto 12", "status": "active", "max_concurrent_charges": "3",
                   "monthly_budget_kwh": "12,5", "expires_at": "2030-01-31"},
                  f"/ui/id-tags/t/{tag}")
    assert edited.status_code == 303, edited.text
    stored = container.id_tags().tag(tag)
    assert (stored.holder, stored.max_concurrent_charges, stored.monthly_budget_kwh) == (
        "Apto 12", 3, 12.5)
    assert stored.expires_at == datetime(2030, 2, 1, 3, tzinfo=UTC)  # end of day, São Paulo
    blocked = post(client, f"/ui/id-tags/t/{tag}/edit", {"only": "status", "status": "blocked"},
                   "/ui/id-tags")
    assert blocked.status_code == 303
    assert container.id_tags().tag(tag).status == "blocked"
    assert container.id_tags().tag(tag).holder == "Apto 12"  # a status change keeps the rest


def test_the_list_pages_by_keyset(container: Container) -> None:
    client = signed_in(container, "admin")
    prefix = token()
    for n in range(55):
        post(client, "/ui/id-tags", {"id_tag": f"{prefix}{n:02d}"}, "/ui/id-tags")
    first = client.get(f"/ui/id-tags?q={prefix}").text
    assert first.count(f">{prefix}") == 50
    found = re.search(r'href="([^"]+)" rel="next"', first)
    assert found is not None
    second = client.get(found.group(1).replace("&amp;", "&")).text
    assert second.count(f">{prefix}") == 5 and f">{prefix}54<" in second


def test_a_refused_tag_shows_the_apis_message_in_portuguese(container: Container) -> None:
    client = signed_in(container, "operator", language="pt-BR")
    tag = token()
    post(client, "/ui/id-tags", {"id_tag": tag}, "/ui/id-tags")
    again = post(client, "/ui/id-tags", {"id_tag": tag}, "/ui/id-tags")
    assert again.status_code == 409
    assert f"a id tag {tag} já existe" in again.text
    bad = post(client, "/ui/id-tags", {"id_tag": "has space"}, "/ui/id-tags")
    assert bad.status_code == 422
    assert "id_tag pode ter apenas caracteres ASCII imprimíveis, sem espaços" in bad.text


def test_a_csv_with_a_bad_line_imports_nothing_and_names_the_line(
        container: Container) -> None:
    client = signed_in(container, "operator", language="pt-BR")
    good, bad = token(), token()
    csv = f"id_tag,holder,max_concurrent_charges\n{good},Ana,1\n{bad},Bia,muitas\n"
    page = csrf(client, "/ui/id-tags")
    refused = client.post("/ui/id-tags/import", data={"csrf_token": page},
                          files={"file": ("tags.csv", csv.encode(), "text/csv")})
    assert refused.status_code == 422
    assert "linha 3 (max_concurrent_charges): não é um número inteiro: &#39;muitas&#39;" in (
        refused.text)
    assert "1 erro(s); nada foi importado" in refused.text
    assert container.id_tags().search(good).tags == []
    fixed = csv.replace("muitas", "2")
    imported = client.post("/ui/id-tags/import", data={"csrf_token": page},
                           files={"file": ("tags.csv", fixed.encode(), "text/csv")},
                           follow_redirects=False)
    assert imported.status_code == 303
    assert "2 criados" in client.get(imported.headers["location"]).text
    export = client.get("/ui/id-tags/export")
    assert export.headers["content-type"].startswith("text/csv")
    assert good in export.text and bad in export.text


def test_an_unknown_card_is_enrolled_with_one_click(container: Container) -> None:
    client = signed_in(container, "operator")
    card = token()
    container.id_tags().record_unknown(str(uuid.uuid4()), card, "CS-UNKNOWN-1",
                                       datetime.now(UTC))
    listed = client.get("/ui/id-tags/unknown").text
    assert card in listed and "CS-UNKNOWN-1" in listed
    enrolled = post(client, f"/ui/id-tags/unknown/{card}/enroll", {}, "/ui/id-tags/unknown")
    assert enrolled.status_code == 303
    assert container.id_tags().tag(card).status == "active"
    assert "Card enrolled" in client.get(enrolled.headers["location"]).text


def test_groups_and_their_monthly_usage(container: Container) -> None:
    client = signed_in(container, "operator")
    group = token()[:12]
    created = post(client, "/ui/id-tags/groups", {"group_id": group, "label": "Bloco <b>A</b>",
                                                  "monthly_budget_kwh": "300"},
                   "/ui/id-tags/groups")
    assert created.status_code == 303, created.text
    page = client.get("/ui/id-tags/groups?month=2026-11").text
    assert group in page and "Bloco &lt;b&gt;A&lt;/b&gt;" in page
    assert client.get("/ui/id-tags/groups?month=2026-13").status_code == 400
    edited = post(client, f"/ui/id-tags/groups/{group}/edit",
                  {"label": "Bloco B", "monthly_budget_kwh": ""}, "/ui/id-tags/groups")
    assert edited.status_code == 303, edited.text
    assert container.id_tags().group(group).label == "Bloco B"
    assert container.id_tags().group(group).monthly_budget_kwh is None
    member = token()
    post(client, "/ui/id-tags", {"id_tag": member, "group_id": group}, "/ui/id-tags")
    in_use = post(client, f"/ui/id-tags/groups/{group}/delete", {}, "/ui/id-tags/groups")
    assert in_use.status_code == 409 and f"1 tag(s) belong to group {group}" in in_use.text


def test_each_role_gets_the_id_tag_pages_and_link_exactly_when_its_api_allows_it(
        container: Container) -> None:
    for role in Role:
        client = signed_in(container, role.value)
        reads = Principal("x", "x", role, None, "test").can(Permission.ID_TAGS_READ)
        assert ('href="/ui/id-tags"' in client.get("/ui/overview").text) is reads, role
        for path in ("/ui/id-tags", "/ui/id-tags/export", "/ui/id-tags/unknown",
                     "/ui/id-tags/groups"):
            assert client.get(path).status_code == (200 if reads else 403), (role, path)
        writes = Principal("x", "x", role, None, "test").can(Permission.ID_TAGS_WRITE)
        created = post(client, "/ui/id-tags", {"id_tag": token()}, "/ui/overview")
        assert created.status_code == (303 if writes else 403), role


def test_a_scoped_operator_reads_its_places_tags_and_changes_none(
        container: Container) -> None:
    registry = container.access_control().registry
    site = registry.create_site("Azul", "test").site_id
    admin = signed_in(container, "admin")
    everywhere = token()
    post(admin, "/ui/id-tags", {"id_tag": everywhere}, "/ui/id-tags")
    client = signed_in(container, "operator", site_scope=[site])
    page = client.get("/ui/id-tags").text
    assert everywhere not in page  # the API's rule: a scoped caller sees its places' tags
    assert 'action="/ui/id-tags/import"' not in page
    refused = post(client, "/ui/id-tags", {"id_tag": token()}, "/ui/id-tags")
    assert refused.status_code == 403
    assert client.get(f"/ui/id-tags/t/{everywhere}").status_code == 404  # as GET /id-tags/…


def test_a_scoped_reader_sees_only_its_own_places_on_a_shared_tag(
        container: Container) -> None:
    registry = container.access_control().registry
    mine, theirs = (registry.create_site(f"Site {uuid.uuid4().hex[:6]}", "test").site_id
                    for _ in range(2))
    shared = token()
    container.id_tags().create_tag(IdTag(shared, site_ids=(theirs, mine)), "test")
    client = signed_in(container, "viewer", site_scope=[mine])
    for page in (client.get(f"/ui/id-tags?q={shared}"), client.get(f"/ui/id-tags/t/{shared}"),
                 client.get("/ui/id-tags/export")):
        assert page.status_code == 200 and shared in page.text
        assert mine in page.text and theirs not in page.text


def test_an_admin_creates_an_account_changes_its_role_and_scope_and_disables_it(
        container: Container) -> None:
    client = signed_in(container, "admin")
    site = container.access_control().registry.create_site("Azul", "test").site_id
    email = f"new-{uuid.uuid4().hex[:6]}@save.example"
    created = post(client, "/ui/accounts", {"email": email, "display_name": "<i>Nova</i>",
                                            "role": "viewer", "password": PASSWORD},
                   "/ui/accounts")
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"]).text
    assert "&lt;i&gt;Nova&lt;/i&gt;" in page and "<i>Nova</i>" not in page
    account_id = created.headers["location"].split("/")[-1].split("?")[0]
    changed = post(client, f"/ui/accounts/{account_id}/edit",
                   {"display_name": "Nova", "role": "technician", "site_scope": site},
                   f"/ui/accounts/{account_id}")
    assert changed.status_code == 303, changed.text
    stored = container.access_control().accounts.get_account(account_id)
    assert stored.role == "technician" and stored.site_scope == frozenset({site})
    disabled = post(client, f"/ui/accounts/{account_id}/edit",
                    {"only": "enabled", "enabled": "false"}, f"/ui/accounts/{account_id}")
    assert disabled.status_code == 303
    assert container.access_control().accounts.get_account(account_id).enabled is False


def test_an_admin_cannot_demote_itself_and_reads_why_in_portuguese(
        container: Container) -> None:
    client = signed_in(container, "admin", language="pt-BR")
    me = next(a for a in container.access_control().accounts.list_accounts()
              if a.email == client.headers["X-Test-Email"])
    demoted = post(client, f"/ui/accounts/{me.account_id}/edit",
                   {"display_name": "Eu", "role": "viewer"}, f"/ui/accounts/{me.account_id}")
    assert demoted.status_code == 409
    assert "você não pode desativar nem rebaixar a sua própria conta" in demoted.text
    taken = post(client, "/ui/accounts", {"email": me.email, "display_name": "X",
                                          "role": "viewer"}, "/ui/accounts")
    assert taken.status_code == 409 and "já existe uma conta com este e-mail" in taken.text


def test_only_admins_reach_the_accounts_pages(container: Container) -> None:
    for role in ("viewer", "technician", "operator"):
        client = signed_in(container, role)
        assert 'href="/ui/accounts"' not in client.get("/ui/overview").text
        assert client.get("/ui/accounts").status_code == 403
        assert post(client, "/ui/accounts", {"email": "x@y.z", "display_name": "X",
                                             "role": "admin"},
                    "/ui/overview").status_code == 403


def test_an_api_key_is_shown_once_works_and_is_revoked(container: Container) -> None:
    client = signed_in(container, "operator")
    created = post(client, "/ui/api-keys", {"name": "building meter", "role": "viewer",
                                            "expires_at": "2099-12-31"}, "/ui/api-keys")
    assert created.status_code == 201, created.text
    secret = re.search(r'id="new-secret">([^<]+)<', created.text)
    assert secret is not None
    api = TestClient(container.app())
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {secret.group(1)}"}
                   ).status_code == 200
    listed = client.get("/ui/api-keys").text
    assert "building meter" in listed and secret.group(1) not in listed  # once only
    key_id = re.search(r'data-key-id="([^"]+)"', listed)
    assert key_id is not None
    revoked = post(client, f"/ui/api-keys/{key_id.group(1)}/revoke", {}, "/ui/api-keys")
    assert revoked.status_code == 303
    container.access_control().authenticator.refresh(force=True)
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {secret.group(1)}"}
                   ).status_code == 401


def test_a_key_above_your_role_is_refused_and_others_keys_are_unseen(
        container: Container) -> None:
    viewer = signed_in(container, "viewer", language="pt-BR")
    refused = post(viewer, "/ui/api-keys", {"name": "k", "role": "admin"}, "/ui/api-keys")
    assert refused.status_code == 403
    assert "o papel de uma chave não pode passar" in refused.text
    operator = signed_in(container, "operator")
    post(operator, "/ui/api-keys", {"name": "operator's own"}, "/ui/api-keys")
    listed = viewer.get("/ui/api-keys").text
    assert "operator&#39;s own" not in listed and "operator's own" not in listed
    theirs = re.search(r'data-key-id="([^"]+)"', operator.get("/ui/api-keys").text)
    assert theirs is not None
    assert post(viewer, f"/ui/api-keys/{theirs.group(1)}/revoke", {},
                "/ui/api-keys").status_code == 404


def test_refusals_on_any_page_read_in_portuguese(container: Container) -> None:
    viewer = signed_in(container, "viewer", language="pt-BR")
    refused = viewer.get("/ui/accounts")
    assert refused.status_code == 403
    assert "seu papel (viewer) não tem accounts:manage" in refused.text
    technician = signed_in(container, "technician", language="pt-BR")
    command = post(technician, "/ui/stations/CS-ANY/commands/remote-start",
                   {"connector_id": "1", "id_tag": "X"}, "/ui/overview")
    assert command.status_code == 403
    assert "seu papel (technician) não pode enviar remote-start" in command.text
    english = signed_in(container, "viewer").get("/ui/accounts")
    assert "your role (viewer) lacks accounts:manage" in english.text


def test_every_token_opens_its_own_page_whatever_it_reads(container: Container) -> None:
    """Tokens may hold `/` and be named like the fixed pages (`groups`, `export`, `unknown`);
    a group id may hold `/` too."""
    client = signed_in(container, "operator")
    group, slashed_group = token()[:12], f"G/{token()[:10]}"
    for g in (group, slashed_group):
        created = post(client, "/ui/id-tags/groups", {"group_id": g, "label": "Bloco"},
                       "/ui/id-tags/groups")
        assert created.status_code == 303, created.text
    tags = container.id_tags()
    for card in (f"groups/{group}", "export", "unknown", "groups", f"{token()}/edit"):
        if card.casefold() not in {t.key for t in tags.all_tags()}:
            tags.create_tag(IdTag(card), "test")
        url = tag_url(card)
        assert f'href="{url}"' in client.get("/ui/id-tags", params={"q": card}).text, card
        page = client.get(url)
        assert page.status_code == 200 and f"Id tag {card}</h1>" in page.text, card
        edited = post(client, f"{url}/edit", {"holder": f"Holder {card}", "status": "active",
                                              "max_concurrent_charges": "1"}, url)
        assert edited.status_code == 303 and edited.headers["location"].startswith(url), card
        assert tags.tag(card).holder == f"Holder {card}"
    assert tags.group(group).label == "Bloco"  # not edited through the tag groups/<group>
    edited = post(client, f"/ui/id-tags/groups/{slashed_group}/edit", {"label": "Bloco B"},
                  "/ui/id-tags/groups")
    assert edited.status_code == 303 and tags.group(slashed_group).label == "Bloco B"
    moved = client.get("/ui/id-tags/ABC", follow_redirects=False)  # a link saved before
    assert (moved.status_code, moved.headers["location"]) == (301, tag_url("ABC"))
