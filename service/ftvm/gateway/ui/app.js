// The live view: logs in through the REST API, then polls the account's inventory queries and draws zones ->
// clusters -> racks -> hosts with their usage, and a line between the two hosts of every FT pair. Every value from
// the API is rendered as text (textContent, setAttribute), never parsed as HTML.
"use strict";

(() => {
  const API = "/zstack/v1";
  const POLL_MS = 1500;
  const PAGE = 1000; // the API's largest query page
  const SESSION_KEY = "ftvm.session";
  const STATUSES = new Set(["Protected", "Recovering", "Unknown", "Unprotected"]);
  const LOGGED_OUT = new Set(["ID.1000", "ID.1001"]); // wrong account or password; missing or expired session
  const SVG = "http://www.w3.org/2000/svg";

  const byId = (id) => document.getElementById(id);
  let pollTimer = null;
  let generation = 0; // a login or a logout starts a new one: a poll of an older one draws nothing and stops
  let shownPicture = "";
  let pairs = [];
  const hostBoxes = new Map(); // host uuid -> its box, for the pair lines

  class ApiError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children); // strings become text nodes
    return node;
  }

  function svgElement(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  function session() {
    const stored = sessionStorage.getItem(SESSION_KEY);
    return stored === null ? null : JSON.parse(stored);
  }

  async function sha512Hex(text) {
    // ZStack clients send the SHA-512 hex of the password. WebCrypto exists only in a secure context.
    if (!window.isSecureContext || !crypto.subtle) {
      throw new ApiError("insecure", "open the view over https, or on localhost, to log in");
    }
    const digest = await crypto.subtle.digest("SHA-512", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    const current = session();
    if (current !== null) headers.Authorization = `OAuth ${current.uuid}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method,
      headers,
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      // not JSON: answered below from the status
    }
    if (!response.ok) {
      const error = payload !== null ? payload.error : null;
      if (error) throw new ApiError(error.code, error.details || error.description);
      throw new ApiError(`HTTP ${response.status}`, response.statusText);
    }
    return payload;
  }

  async function queryAll(path) {
    const found = [];
    for (let start = 0; ; start += PAGE) {
      const page = await call("GET", `${path}?limit=${PAGE}&start=${start}&sort=%2Buuid`);
      found.push(...page.inventories);
      if (page.inventories.length < PAGE) return found;
    }
  }

  // ---- the picture: what is drawn, as plain data (compared between polls to skip a redraw) ----

  function usage(total, available) {
    return { used: Math.max(0, total - available), total };
  }

  function byName(a, b) {
    return (a.name || a.uuid).localeCompare(b.name || b.uuid) || a.uuid.localeCompare(b.uuid);
  }

  function picture(zones, clusters, hosts, storages, groups, vms) {
    const hostOfVm = new Map(vms.map((vm) => [vm.uuid, vm.hostUuid]));
    const localDisk = new Map();
    const sharedByCluster = new Map();
    for (const storage of storages) {
      if (storage.type === "LocalStorage") {
        for (const ref of storage.localStorageHostRefs) {
          localDisk.set(ref.hostUuid, usage(ref.totalCapacity, ref.availableCapacity));
        }
        continue;
      }
      for (const cluster of storage.attachedClusterUuids) {
        const total = sharedByCluster.get(cluster) || { used: 0, total: 0 };
        const added = usage(storage.totalCapacity, storage.availableCapacity);
        sharedByCluster.set(cluster, { used: total.used + added.used, total: total.total + added.total });
      }
    }
    const hostView = (host) => ({
      uuid: host.uuid,
      name: host.name || host.uuid,
      state: host.state,
      status: host.status,
      cpu: usage(host.totalCpuCapacity, host.availableCpuCapacity),
      memory: usage(host.totalMemoryCapacity, host.availableMemoryCapacity),
      disk: localDisk.get(host.uuid) || sharedByCluster.get(host.clusterUuid) || null,
      diskShared: !localDisk.has(host.uuid),
    });
    const clusterView = (cluster) => {
      const racks = new Map();
      for (const host of hosts.filter((h) => h.clusterUuid === cluster.uuid).sort(byName)) {
        const rack = host.failureDomain || "no rack";
        if (!racks.has(rack)) racks.set(rack, []);
        racks.get(rack).push(hostView(host));
      }
      const rackNames = [...racks.keys()].sort();
      return {
        uuid: cluster.uuid,
        name: cluster.name || cluster.uuid,
        racks: rackNames.map((name) => ({ name, hosts: racks.get(name) })),
      };
    };
    return {
      zones: [...zones].sort(byName).map((zone) => ({
        uuid: zone.uuid,
        name: zone.name || zone.uuid,
        clusters: clusters.filter((c) => c.zoneUuid === zone.uuid).sort(byName).map(clusterView),
      })),
      pairs: [...groups].sort(byName).map((group) => ({
        uuid: group.uuid,
        name: group.name || group.uuid,
        status: group.status || "",
        statusReason: group.statusReason || "",
        primaryHost: hostOfVm.get(group.primaryVmInstanceUuid) || null,
        secondaryHost: hostOfVm.get(group.secondaryVmInstanceUuid) || null,
      })),
    };
  }

  // ---- drawing ----

  function percent(part) {
    return part.total > 0 ? Math.round((100 * part.used) / part.total) : 0;
  }

  function bytes(count) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let value = count;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
  }

  function bar(label, part, describe) {
    const fill = element("span", { class: "fill" });
    fill.style.width = `${percent(part)}%`; // CSSOM, which the Content-Security-Policy allows (no style attribute)
    const level = percent(part) >= 90 ? "high" : percent(part) >= 70 ? "mid" : "low";
    return element(
      "div",
      { class: `bar ${level}`, "data-usage": label, title: `${label}: ${describe(part)} (${percent(part)} %)` },
      element("span", { class: "label" }, `${label} ${percent(part)}%`),
      element("span", { class: "track" }, fill),
    );
  }

  function statusClass(status) {
    return STATUSES.has(status) ? status : "other";
  }

  function hostElement(host, roles) {
    const counts = roles.get(host.uuid) || { primary: 0, secondary: 0 };
    const box = element(
      "div",
      {
        class: `host ${host.status === "Connected" ? "connected" : "disconnected"} ${host.state === "Enabled" ? "" : "disabled"}`,
        "data-host": host.uuid,
        "data-name": host.name,
        title: `${host.name} (${host.uuid}): ${host.state}, ${host.status}`,
      },
      element("div", { class: "host-name" }, host.name),
      element(
        "div",
        { class: "host-status", title: "FT VMs on the host: primaries, secondaries" },
        `${host.status} · P ${counts.primary} S ${counts.secondary}`,
      ),
      bar("cpu", host.cpu, (p) => `${p.used} of ${p.total}`),
      bar("mem", host.memory, (p) => `${bytes(p.used)} of ${bytes(p.total)}`),
    );
    if (host.disk !== null) {
      const label = host.diskShared ? "shared" : "disk";
      box.append(bar(label, host.disk, (p) => `${bytes(p.used)} of ${bytes(p.total)}`));
    }
    hostBoxes.set(host.uuid, box);
    return box;
  }

  function render(shown) {
    const roles = new Map();
    const count = (host, role) => {
      if (host === null) return;
      const counts = roles.get(host) || { primary: 0, secondary: 0 };
      counts[role] += 1;
      roles.set(host, counts);
    };
    for (const pair of shown.pairs) {
      count(pair.primaryHost, "primary");
      count(pair.secondaryHost, "secondary");
    }
    hostBoxes.clear();
    byId("zones").replaceChildren(
      ...shown.zones.map((zone) =>
        element(
          "section",
          { class: "zone", "data-zone": zone.uuid },
          element("h2", {}, `zone ${zone.name}`),
          element(
            "div",
            { class: "clusters" },
            ...zone.clusters.map((cluster) =>
              element(
                "section",
                { class: "cluster", "data-cluster": cluster.uuid },
                element("h3", {}, `cluster ${cluster.name}`),
                element(
                  "div",
                  { class: "racks" },
                  ...cluster.racks.map((rack) =>
                    element(
                      "div",
                      { class: "rack" },
                      element("h4", {}, rack.name),
                      ...rack.hosts.map((host) => hostElement(host, roles)),
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    const hostName = (uuid) => (uuid === null ? "none" : hostBoxes.has(uuid) ? hostBoxes.get(uuid).dataset.name : uuid);
    byId("groups")
      .querySelector("tbody")
      .replaceChildren(
        ...shown.pairs.map((pair) => {
          const row = element(
            "tr",
            { "data-group": pair.uuid, title: pair.statusReason || pair.uuid },
            element("td", {}, pair.name),
            element("td", {}, element("span", { class: `status ${statusClass(pair.status)}` }, pair.status)),
            element("td", {}, hostName(pair.primaryHost)),
            element("td", {}, hostName(pair.secondaryHost)),
          );
          row.addEventListener("mouseenter", () => highlight(pair.uuid, true));
          row.addEventListener("mouseleave", () => highlight(pair.uuid, false));
          return row;
        }),
      );
    pairs = shown.pairs;
    drawPairs();
  }

  function highlight(groupUuid, on) {
    for (const line of byId("pairs").querySelectorAll("g.pair")) {
      if (line.dataset.group === groupUuid) line.classList.toggle("highlight", on);
    }
  }

  function centre(box, origin) {
    const rect = box.getBoundingClientRect();
    return [rect.left - origin.left + rect.width / 2, rect.top - origin.top + rect.height / 2];
  }

  function drawPairs() {
    const map = byId("map");
    const svg = byId("pairs");
    const origin = map.getBoundingClientRect();
    svg.setAttribute("width", map.scrollWidth);
    svg.setAttribute("height", map.scrollHeight);
    svg.replaceChildren();
    for (const pair of pairs) {
      const from = hostBoxes.get(pair.primaryHost);
      const to = hostBoxes.get(pair.secondaryHost);
      if (from === undefined || to === undefined) continue; // one VM only (being recovered): listed, not drawn
      const [x1, y1] = centre(from, origin);
      const [x2, y2] = centre(to, origin);
      const line = svgElement("g", {
        class: `pair ${statusClass(pair.status)}`,
        "data-group": pair.uuid,
        "data-primary-host": pair.primaryHost,
        "data-secondary-host": pair.secondaryHost,
      });
      const title = svgElement("title", {});
      title.textContent = `${pair.name} (${pair.uuid}): ${pair.status}`;
      // A curve bowed sideways by a fifth of its length, so that it does not run along the hosts of a row or column.
      const [cx, cy] = [(x1 + x2) / 2 + (y2 - y1) / 5, (y1 + y2) / 2 - (x2 - x1) / 5];
      const label = svgElement("text", {
        x: (x1 + 2 * cx + x2) / 4, // the curve's own midpoint
        y: (y1 + 2 * cy + y2) / 4 - 4,
        "text-anchor": "middle",
      });
      label.textContent = pair.name;
      line.append(
        title,
        svgElement("path", { d: `M ${x1} ${y1} Q ${cx} ${cy} ${x2} ${y2}` }),
        svgElement("circle", { class: "primary-end", cx: x1, cy: y1, r: 6 }),
        svgElement("circle", { class: "secondary-end", cx: x2, cy: y2, r: 6 }),
        label,
      );
      svg.append(line);
    }
  }

  // ---- polling, login, logout ----

  async function poll(mine) {
    pollTimer = null;
    try {
      const shown = picture(
        ...(await Promise.all([
          queryAll("/zones"),
          queryAll("/clusters"),
          queryAll("/hosts"),
          queryAll("/primary-storage"),
          queryAll("/vm-instances/fault-tolerance"),
          queryAll("/vm-instances"),
        ])),
      );
      if (mine !== generation) return;
      const key = JSON.stringify(shown);
      if (key !== shownPicture) {
        render(shown);
        shownPicture = key;
      }
      byId("freshness").textContent = `updated ${new Date().toLocaleTimeString()}`;
      byId("freshness").className = "";
    } catch (error) {
      if (mine !== generation) return;
      if (error instanceof ApiError && LOGGED_OUT.has(error.code)) {
        showLogin(`${error.message}: log in again`);
        return;
      }
      byId("freshness").textContent = `update failed: ${error.message}`;
      byId("freshness").className = "stale";
    }
    pollTimer = setTimeout(() => poll(mine), POLL_MS);
  }

  function showLogin(message) {
    generation += 1;
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    sessionStorage.removeItem(SESSION_KEY);
    render({ zones: [], pairs: [] }); // nothing of the last account stays in the page
    shownPicture = "";
    byId("view").hidden = true;
    byId("logout").hidden = true;
    byId("viewer").textContent = "";
    byId("freshness").textContent = "";
    byId("login").hidden = false;
    byId("login-error").textContent = message;
  }

  function showView() {
    byId("login").hidden = true;
    byId("view").hidden = false;
    byId("logout").hidden = false;
    byId("viewer").textContent = `account ${session().account}`;
    generation += 1;
    poll(generation);
  }

  byId("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const account = byId("account").value;
    try {
      sessionStorage.removeItem(SESSION_KEY);
      const reply = await call("PUT", "/accounts/login", {
        logInByAccount: { accountName: account, password: await sha512Hex(byId("password").value) },
      });
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({ uuid: reply.inventory.uuid, account }));
      byId("password").value = "";
      byId("login-error").textContent = "";
      showView();
    } catch (error) {
      byId("login-error").textContent = error.message;
    }
  });

  byId("logout").addEventListener("click", async () => {
    const current = session();
    showLogin("");
    if (current !== null) {
      try {
        await call("DELETE", `/accounts/sessions/${encodeURIComponent(current.uuid)}`);
      } catch (_) {
        // the session is forgotten here either way; it expires on the server
      }
    }
  });

  window.addEventListener("resize", drawPairs);
  if (session() !== null) showView();
})();
