"""The live view at /ui in a real headless browser (Debian's chromium and chromedriver, driven by selenium) against a
real `ftvm serve` with the demo inventory and an `ftvm agent --simulate` process: a normal account logs in on the
page, sees the demo's hosts, and sees its own pair (never another account's) appear on a create, move to new hosts
when its primary's host fails, and disappear on a destroy. Every wait is for a DOM condition (WebDriverWait)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ADMIN_PASSWORD = "ui-admin-password"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Generous: a slow 2-core machine runs the server, the agent and chromium at once; each wait ends at its condition.
WAIT_SECONDS = 60


def _password_hash(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


def _start(argv: list[str], ready: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """A `python -m ftvm.cli` subprocess and its output up to the line containing `ready`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftvm.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if ready in line:
            return proc, "".join(lines)
    proc.wait(timeout=30)
    raise AssertionError(f"{argv[0]} did not start:\n{''.join(lines)}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


class Rest:
    """A REST client of the gateway with an account's session."""

    def __init__(self, url: str, account: str, password: str) -> None:
        self.url = url
        self.session = self.call(
            "PUT", "/accounts/login", {"logInByAccount": {"accountName": account, "password": _password_hash(password)}}
        )["inventory"]["uuid"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "session", None):
            headers["Authorization"] = f"OAuth {self.session}"
        request = urllib.request.Request(
            f"{self.url}/zstack/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read().decode()}") from None

    def first(self, path: str) -> str:
        return self.call("GET", path)["inventories"][0]["uuid"]

    def create(self, name: str) -> dict:
        return self.call(
            "POST",
            "/vm-instances/fault-tolerance",
            {
                "name": name,
                "instanceOfferingUuid": self.first("/instance-offerings?q=name=small"),
                "imageUuid": self.first("/images?q=mediaType=RootVolumeTemplate&limit=1"),
                "l3NetworkUuids": [self.first("/l3-networks?q=name=l3-a-vm")],
            },
        )

    def pair(self, group: str) -> tuple[str, str]:
        reply = self.call("GET", f"/vm-instances/fault-tolerance/sub-vms?faultToleranceVmUuid={group}")
        return reply["primaryVmInventory"]["hostUuid"], reply["secondaryVmInventory"]["hostUuid"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(REST url, agent url, start banner): `ftvm serve` on the demo inventory, its VMs run by an `ftvm agent
    --simulate`. A host is pinged every second (each ping may take that second) and Disconnected after five missed
    pings: a failed host is noticed within seconds, and a busy machine's slow answers do not disconnect the healthy
    ones."""
    folder = tmp_path_factory.mktemp("ui")
    agent, out = _start(
        ["agent", "--simulate", "--listen", "127.0.0.1:0", "--state", str(folder / "agent.db")], "listening on"
    )
    agent_url = re.search(r"listening on (\S+)", out).group(1)
    try:
        server, out = _start(
            [
                "serve",
                "--data-dir",
                str(folder / "data"),
                "--grpc-port",
                "0",
                "--http-port",
                "0",
                "--agent-url",
                agent_url,
                "--heartbeat-interval",
                "1",
                "--missed-heartbeats",
                "5",
            ],
            "try it:",
            {"FTVM_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        try:
            yield re.search(r"REST listening on (\S+)", out).group(1), agent_url, out
        finally:
            _stop(server)
    finally:
        _stop(agent)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1200",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, what: str):
    return WebDriverWait(
        driver, WAIT_SECONDS, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda d: condition(d), message=f"timed out waiting for {what}")


def _drawn(driver, group: str) -> dict | None:
    """The pair line of `group` as drawn (its hosts, label, status, and whether the line runs from a point inside
    the primary's host box to one inside the secondary's), or None when the page draws no line for it."""
    return driver.execute_script(
        """
        const line = [...document.querySelectorAll('#pairs g.pair')].find(g => g.dataset.group === arguments[0]);
        if (!line) return null;
        const box = uuid => [...document.querySelectorAll('.host')].find(h => h.dataset.host === uuid);
        const map = document.getElementById('map').getBoundingClientRect();
        const inside = (uuid, x, y) => {
          const r = box(uuid).getBoundingClientRect();
          x += map.left; y += map.top;
          return r.left <= x && x <= r.right && r.top <= y && y <= r.bottom;
        };
        const end = role => ['cx', 'cy'].map(a => Number(line.querySelector(`.${role}-end`).getAttribute(a)));
        const [[x1, y1], [x2, y2]] = [end('primary'), end('secondary')];
        const path = line.querySelector('path').getAttribute('d').split(' ').map(Number);
        const joins = path[1] === x1 && path[2] === y1 && path.at(-2) === x2 && path.at(-1) === y2;
        return {primary: line.dataset.primaryHost, secondary: line.dataset.secondaryHost,
                label: line.querySelector('text').textContent,
                status: [...line.classList].filter(c => c !== 'pair'),
                ends_in_boxes: joins && inside(line.dataset.primaryHost, x1, y1)
                               && inside(line.dataset.secondaryHost, x2, y2)};
        """,
        group,
    )


def _row(driver, group: str) -> list[str] | None:
    """The group's row of the table (name, status, primary host, secondary host), or None."""
    return driver.execute_script(
        """
        const row = [...document.querySelectorAll('#groups tbody tr')].find(r => r.dataset.group === arguments[0]);
        return row ? [...row.cells].map(c => c.textContent) : null;
        """,
        group,
    )


def _host_names(admin: Rest) -> dict[str, str]:
    return {h["uuid"]: h["name"] for h in admin.call("GET", "/hosts")["inventories"]}


def test_the_static_files_carry_a_content_security_policy(served):
    url, _, banner = served
    assert f"ftvm: live view at {url}/ui/" in banner
    opener = urllib.request.build_opener(
        type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *args: None})
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"{url}/ui", timeout=30)
    assert redirect.value.code == 302 and redirect.value.headers["Location"] == "/ui/"
    for path, kind in (("/ui/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")):
        with urllib.request.urlopen(f"{url}{path}", timeout=30) as reply:
            policy = reply.headers["Content-Security-Policy"]
            assert reply.headers["Content-Type"].startswith(kind)
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    for path in ("/ui/missing.js", "/ui/..%2Fui.py", "/ui/%2E%2E/app.py"):  # only the listed files are served
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}{path}", timeout=30)
        assert missing.value.code == 404


def test_the_view_follows_create_failover_and_destroy_of_the_accounts_own_pairs(served, browser):
    url, agent_url, _ = served
    admin = Rest(url, "admin", ADMIN_PASSWORD)
    admin.call(
        "POST", "/accounts", {"params": {"name": "alice", "password": _password_hash("alice-pw"), "type": "Normal"}}
    )
    alice = Rest(url, "alice", "alice-pw")
    hosts = _host_names(admin)
    assert len(hosts) == 48  # the demo inventory
    others = admin.create("admin-web")["faultToleranceVmGroupInventory"]["uuid"]

    browser.get(f"{url}/ui")
    _wait(browser, lambda d: d.find_element(By.ID, "account").is_displayed(), "the login form")
    _log_in(browser, "alice", "alice-pw")

    _wait(browser, lambda d: _shown_hosts(d) == set(hosts), "the demo's 48 hosts")
    text = browser.find_element(By.ID, "zones").text
    assert "zone zone-a" in text and "cluster cluster-a1" in text and "rack-a01" in text and "host-a1-01" in text
    assert browser.find_element(By.ID, "viewer").text == "account alice"
    assert browser.execute_script("return JSON.parse(sessionStorage.getItem('ftvm.session')).uuid")

    # a create: the new pair is drawn between its two hosts, labelled with its name (as text, never as markup)
    name = "alice-web <img src=x>"
    reply = alice.create(name)
    group = reply["faultToleranceVmGroupInventory"]["uuid"]
    primary, secondary = reply["primaryVmInventory"]["hostUuid"], reply["secondaryVmInventory"]["hostUuid"]
    drawn = _wait(browser, lambda d: _drawn(d, group), "the new pair's line")
    assert drawn == {
        "primary": primary,
        "secondary": secondary,
        "label": name,
        "status": ["Protected"],
        "ends_in_boxes": True,
    }
    assert _row(browser, group) == [name, "Protected", hosts[primary], hosts[secondary]]
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert _drawn(browser, others) is None and _row(browser, others) is None  # the admin's pair is not alice's

    # a failover: the primary's host fails; the secondary takes over and a new secondary is placed elsewhere
    urllib.request.urlopen(urllib.request.Request(f"{agent_url}/hosts/{primary}/fail", method="POST"), timeout=30)

    def moved(d) -> dict | None:
        now = _drawn(d, group)
        return now if now is not None and now["primary"] == secondary and now["status"] == ["Protected"] else None

    drawn = _wait(browser, moved, "the pair to move off the failed host")
    new_primary, new_secondary = alice.pair(group)
    assert (new_primary, drawn["secondary"]) == (secondary, new_secondary) and new_secondary not in (primary, secondary)
    assert drawn["ends_in_boxes"]
    _wait(browser, lambda d: "disconnected" in _host_class(d, primary), "the failed host marked Disconnected")
    assert _row(browser, group) == [name, "Protected", hosts[secondary], hosts[new_secondary]]
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "ui.png"))

    # a destroy: the line and the row go
    alice.call("DELETE", f"/vm-instances/{group}")
    _wait(browser, lambda d: _drawn(d, group) is None and _row(d, group) is None, "the pair to disappear")
    csp = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert csp == []  # the page runs under its own policy

    # a session that ends on the server (here: logged out through the API) brings the form back
    session = browser.execute_script("return JSON.parse(sessionStorage.getItem('ftvm.session')).uuid")
    alice.call("DELETE", f"/accounts/sessions/{session}")
    _wait(browser, lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form after the session ended")
    assert "log in again" in browser.find_element(By.ID, "login-error").text
    assert browser.execute_script("return sessionStorage.getItem('ftvm.session')") is None
    assert _shown_hosts(browser) == set() and browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr") == []

    # logging in again, then out with the button: the session is forgotten and the form shown again
    _log_in(browser, "alice", "alice-pw")
    _wait(browser, lambda d: _shown_hosts(d) == set(hosts), "the hosts after logging in again")
    browser.find_element(By.ID, "logout").click()
    _wait(browser, lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form")
    assert browser.execute_script("return sessionStorage.getItem('ftvm.session')") is None
    assert not browser.find_element(By.ID, "view").is_displayed()


def _log_in(driver, account: str, password: str) -> None:
    for field, value in (("account", account), ("password", password)):
        driver.find_element(By.ID, field).clear()
        driver.find_element(By.ID, field).send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def _shown_hosts(driver) -> set[str]:
    return {box.get_attribute("data-host") for box in driver.find_elements(By.CSS_SELECTOR, ".host")}


def _host_class(driver, host: str) -> str:
    return driver.execute_script(
        "const h = [...document.querySelectorAll('.host')].find(b => b.dataset.host === arguments[0]);"
        "return h ? h.className : '';",
        host,
    )
