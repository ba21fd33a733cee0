#!/usr/bin/env python3
"""One NDJSON line of one Author with 200,000 posts, each with one comment and one tag from a
pool of 1,000, in the shapes of examples/blog/schema.toml (BENCHMARKS.md, "Cast and plan CPU
and the long line"): 41,421,919 bytes, 601,002 rows.

    python3 long-line.py > long.ndjson
"""
import json
import sys

POSTS = 200_000
posts = []
for p in range(1, POSTS + 1):
    t = p % 1000 + 1
    posts.append({
        "id": p,
        "author_id": 1,
        "title": f"Post {p} by author 1",
        "category_id": p % 10 + 1,
        "comments": [{"id": p, "post_id": p, "body": f"Comment 0 on post {p}: a short remark."}],
        "tags": [{"id": t, "name": f"tag-{t}"}],
    })
author = {
    "id": 1,
    "name": "Author 1",
    "phone_number": "555-0001",
    "address": {"street": "1 Main Street", "city": "Salem"},
    "social_links": [{"label": "web", "url": "https://example.com/authors/1"}],
    "profile": {"id": 1, "author_id": 1, "bio": "Bio of author 1."},
    "posts": posts,
}
sys.stdout.write(json.dumps(author, separators=(",", ":")) + "\n")
