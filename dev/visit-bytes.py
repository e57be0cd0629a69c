#!/usr/bin/env python3
"""What a browser transfers for the console's page, as `./dev/bench` reports it (issue 14).

First visit: the page (HTML) and every site file it links (`/pkg/...`: WASM, JS, CSS), each asked
for with `Accept-Encoding: gzip, deflate, br` as a browser does; the bytes on the wire are the
bodies as sent (gzip where the console sends gzip) plus the response headers.
Repeat visit: the page again; a site file whose answer said `immutable` with a max-age is not
asked for again (the browser's cache holds it); any other is revalidated with If-Modified-Since /
If-None-Match and counted as sent (a 304 is its headers only).

Usage: visit-bytes.py URL OUT.json
"""
import json
import re
import sys
import urllib.request

URL, OUT = sys.argv[1], sys.argv[2]
HEADERS = {"Accept-Encoding": "gzip, deflate, br", "User-Agent": "wukong-bench"}


def fetch(url, extra=None):
    request = urllib.request.Request(url, headers={**HEADERS, **(extra or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()  # as sent: urllib does not decode gzip
            head = sum(len(k) + len(v) + 4 for k, v in answer.getheaders()) + 17
            return answer.status, dict(answer.getheaders()), body, head
    except urllib.error.HTTPError as e:  # 304 and friends
        head = sum(len(k) + len(v) + 4 for k, v in e.headers.items()) + 17
        return e.code, dict(e.headers.items()), b"", head


def origin(url):
    return re.match(r"https?://[^/]+", url).group(0)


status, headers, page, head = fetch(URL)
assert status == 200, status
html = page
if headers.get("Content-Encoding", headers.get("content-encoding")) == "gzip":
    import gzip

    html = gzip.decompress(page)
links = sorted(set(re.findall(rb'(?:href|src)="(/pkg/[^"]+)"', html)))
# The hydration script imports the JS and the WASM it names; they are on the page as preloads.
first = {"page": {"status": status, "bytes": len(page) + head, "encoding": headers.get("Content-Encoding", headers.get("content-encoding"))}}
cached = {}
for link in links:
    path = link.decode()
    s, h, body, hb = fetch(origin(URL) + path)
    cache = h.get("Cache-Control", h.get("cache-control", ""))
    first[path] = {"status": s, "bytes": len(body) + hb, "encoding": h.get("Content-Encoding", h.get("content-encoding")), "cache_control": cache}
    cached[path] = (cache, h.get("Last-Modified", h.get("last-modified")), h.get("ETag", h.get("etag")))

repeat = {}
s, h, page2, hb = fetch(URL)
repeat["page"] = {"status": s, "bytes": len(page2) + hb}
for path, (cache, modified, etag) in cached.items():
    if "immutable" in cache and "max-age" in cache:
        repeat[path] = {"status": "from the browser's cache", "bytes": 0}
        continue
    extra = {}
    if modified:
        extra["If-Modified-Since"] = modified
    if etag:
        extra["If-None-Match"] = etag
    s, h, body, hb = fetch(origin(URL) + path, extra)
    repeat[path] = {"status": s, "bytes": len(body) + hb}

result = {
    "url": URL,
    "first_visit_bytes": sum(v["bytes"] for v in first.values()),
    "repeat_visit_bytes": sum(v["bytes"] for v in repeat.values()),
    "first_visit": first,
    "repeat_visit": repeat,
}
json.dump(result, open(OUT, "w"), indent=2)
print(f'first visit {result["first_visit_bytes"]} bytes, repeat visit {result["repeat_visit_bytes"]} bytes '
      f'(page and {len(links)} site files: ' + ", ".join(f"{p.rsplit('/', 1)[-1]} {v['bytes']}" for p, v in first.items() if p != "page") + ")")
