"""The demo in two browser windows as two users, as a newcomer sees it after `make run`:
presence appears in the other window, a lock taken in one disables editing in the other and
re-enables it on release and on expiry, and a write with a stale fencing token is refused in
the page. Also on two nodes sharing one Redis.

With `HUDDLE_SCREENSHOT=<path>` (`make screenshot`), the first test saves the README's picture
of the demo there: Ben's window while Ana edits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Page, expect

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer

from .conftest import Pages

pytestmark = pytest.mark.xdist_group("browser")

WITHIN: Final = 15_000  # ms, for each thing that must show up in a page
CARD_OBJECT: Final = {
    "apiName": "card",
    "label": "Card",
    "fields": [
        {"apiName": "title", "type": "text", "required": True},
        {"apiName": "body", "type": "long_text"},
        {"apiName": "status", "type": "single_select", "options": ["todo", "doing", "done"]},
    ],
}


def card(page: Page, card_id: int) -> str:
    return f'[data-testid=card][data-card-id="{card_id}"]'


async def wait_open(page: Page) -> None:
    await expect(page.get_by_test_id("state")).to_have_text("open", timeout=WITHIN)


async def title_of(node: HuddleNode, card_id: int) -> str:
    """Card `card_id`'s title, read with a demo token (the node runs on its dev secret)."""
    async with node.client() as http:
        minted = await http.post("/demo/token", json={"name": "Auditor"})
        assert minted.status_code == 200, minted.text
        headers = {"Authorization": f"Bearer {minted.json()['token']}"}
        answer = await http.get(f"/v1/custom-objects/card/records/{card_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    title: str = answer.json()["values"]["title"]
    return title


async def test_two_users_see_each_other_and_the_lock_guards_the_edit(
    nodes: NodeFactory, pages: Pages
) -> None:
    # Leases of 2 s; a dropped connection's locks wait a minute, so Ana's lease can only end
    # by expiring while she is offline.
    node = await nodes.start("memory://", name="a", jwt_secret=None, lock_release_grace=60)
    ana = await pages.open(f"{node.url}/demo/?name=Ana&lockTtl=2")
    ben = await pages.open(f"{node.url}/demo/?name=Ben")
    await wait_open(ana)
    await wait_open(ben)
    await expect(ben.get_by_test_id("me")).to_have_text("Ben")
    await expect(ben.locator('[data-testid=roster] [data-user-id="demo-ana"]')).to_be_visible(
        timeout=WITHIN
    )
    await expect(ana.locator('[data-testid=roster] [data-user-id="demo-ben"]')).to_be_visible(
        timeout=WITHIN
    )

    # Ana opens card 1: her avatar appears on it in Ben's window
    await ana.locator(f"{card(ana, 1)} [data-testid=open]").click()
    await expect(
        ben.locator(f'{card(ben, 1)} [data-testid=viewers] [data-user-id="demo-ana"]')
    ).to_be_visible(timeout=WITHIN)

    # Ana takes the lock: Ben sees who edits and cannot edit; Ana cancels: Ben can again
    ben_edit = ben.locator(f"{card(ben, 1)} [data-testid=edit]")
    ben_badge = ben.locator(f"{card(ben, 1)} [data-testid=lock-badge]")
    await expect(ben_edit).to_be_enabled(timeout=WITHIN)
    await ana.locator(f"{card(ana, 1)} [data-testid=edit]").click()
    await expect(ana.get_by_test_id("editor-status")).to_contain_text("fencing token")
    await expect(ben_badge).to_contain_text("Ana is editing", timeout=WITHIN)
    await expect(ben_badge).to_have_attribute("data-holder", "demo-ana")
    await expect(ben_edit).to_be_disabled()
    if target := os.environ.get("HUDDLE_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        await ben.screenshot(path=target)
    await ana.get_by_test_id("cancel").click()
    await expect(ben_badge).to_have_count(0, timeout=WITHIN)
    await expect(ben_edit).to_be_enabled()

    # Ana edits again, then loses the network: her 2 s lease expires, and Ben may edit
    await ana.locator(f"{card(ana, 1)} [data-testid=edit]").click()
    await expect(ben_edit).to_be_disabled(timeout=WITHIN)
    await ana.context.set_offline(True)
    await expect(ben_edit).to_be_enabled(timeout=WITHIN)
    await expect(ben.locator('[data-testid=log] li[data-event-type="lock.expired"]')).to_have_count(
        1, timeout=WITHIN
    )

    # Ben takes it; Ana comes back and saves with her stale fencing token: refused in her page
    await ben_edit.click()
    await expect(ben.get_by_test_id("editor")).to_be_visible()
    await ana.context.set_offline(False)
    await wait_open(ana)
    await ana.locator("[data-testid=editor] [name=title]").fill("Ana's late change")
    await ana.get_by_test_id("save").click()
    await expect(ana.get_by_test_id("editor-status")).to_contain_text(
        "Refused: STALE_FENCING_TOKEN", timeout=WITHIN
    )
    assert await title_of(node, 1) != "Ana's late change"

    # Ben's write, with his token, lands and shows in Ana's window
    await ben.locator("[data-testid=editor] [name=title]").fill("Renewed by Ben")
    await ben.get_by_test_id("save").click()
    await expect(ben.get_by_test_id("editor-status")).to_have_text("Saved", timeout=WITHIN)
    await expect(ana.locator(card(ana, 1))).to_contain_text("Renewed by Ben", timeout=WITHIN)
    assert await title_of(node, 1) == "Renewed by Ben"


async def test_two_users_on_two_nodes_sharing_redis(
    nodes: NodeFactory, redis_server: RedisServer, pages: Pages
) -> None:
    """A node on Redis mints no demo tokens: each window pastes its own token. Ana on node A,
    Ben on node B: presence and the lock cross nodes."""
    a = await nodes.start(redis_server.url(), name="a")
    b = await nodes.start(redis_server.url(), name="b")
    async with a.client(bearer("root", admin=True)) as admin:
        assert (await admin.post("/v1/custom-objects", json=CARD_OBJECT)).status_code == 201
        made = await admin.post(
            "/v1/custom-objects/card/records", json={"values": {"title": "Shared card"}}
        )
        assert made.status_code == 201, made.text
    card_id = made.json()["id"]

    async def join(node: HuddleNode, user: str, name: str) -> Page:
        page = await pages.open(f"{node.url}/demo/")
        token = bearer(user, name=name)["Authorization"].split()[1]
        await page.get_by_test_id("token-input").fill(token)
        await page.get_by_test_id("join").click()
        await wait_open(page)
        return page

    ana = await join(a, "ana", "Ana")
    ben = await join(b, "ben", "Ben")
    await expect(ben.locator('[data-testid=roster] [data-user-id="ana"]')).to_be_visible(
        timeout=WITHIN
    )
    await ana.locator(f"{card(ana, card_id)} [data-testid=open]").click()
    await expect(
        ben.locator(f'{card(ben, card_id)} [data-testid=viewers] [data-user-id="ana"]')
    ).to_be_visible(timeout=WITHIN)
    ben_edit = ben.locator(f"{card(ben, card_id)} [data-testid=edit]")
    await expect(ben_edit).to_be_enabled(timeout=WITHIN)
    await ana.locator(f"{card(ana, card_id)} [data-testid=edit]").click()
    await expect(ben_edit).to_be_disabled(timeout=WITHIN)
    await expect(ben.locator(f"{card(ben, card_id)} [data-testid=lock-badge]")).to_contain_text(
        "Ana is editing"
    )
    await ana.get_by_test_id("cancel").click()
    await expect(ben_edit).to_be_enabled(timeout=WITHIN)
