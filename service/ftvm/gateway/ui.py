"""The live view at /ui: static files (gateway/ui/, shipped in the package) that log in through the REST API and
poll its queries, so the view sees exactly what the viewer's account may see. Only the files listed here are
served (no path from the request reaches the file system), each with a Content-Security-Policy that allows the
page's own script, style and API calls and nothing else (no inline script, no other origin, no framing)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

CONTENT_TYPES = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_routes(app: web.Application) -> None:
    folder = resources.files("ftvm.gateway") / "ui"
    files = {name: (folder / name).read_bytes() for name in CONTENT_TYPES}

    async def redirect(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/ui/", **HEADERS})

    async def serve_file(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        if name not in files:
            raise web.HTTPNotFound()
        return web.Response(body=files[name], content_type=CONTENT_TYPES[name], charset="utf-8", headers=HEADERS)

    app.router.add_get("/ui", redirect)
    app.router.add_get("/ui/", serve_file)
    app.router.add_get("/ui/{name}", serve_file)
