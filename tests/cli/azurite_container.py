#!/usr/bin/env python3
"""Create a container in Azurite for the CLI tests (libafs never creates containers).

    azurite_container.py ENDPOINT CONTAINER KEY

ENDPOINT is AFS_TEST_AZURITE (path style, http://127.0.0.1:PORT/ACCOUNT); the request is
signed with Shared Key by this script's own few lines, so the test does not depend on the
library it tests to set up its fixture. Prints the HTTP status (201)."""
import urllib.parse
import base64, hashlib, hmac, sys, urllib.request, email.utils
endpoint, container, key = sys.argv[1], sys.argv[2], sys.argv[3]
account = endpoint.rstrip("/").rsplit("/", 1)[1]
path = urllib.parse.urlparse(endpoint).path.rstrip("/") + "/" + container
date = email.utils.formatdate(usegmt=True)
hdrs = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
canon_h = "".join(f"{k}:{v}\n" for k, v in sorted(hdrs.items()))
sts = "PUT\n" + "\n" * 11 + canon_h + f"/{account}{path}\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(endpoint.rstrip("/") + "/" + container + "?restype=container",
                             method="PUT", headers={**hdrs, "Authorization": f"SharedKey {account}:{sig}", "Content-Length": "0"})
print(urllib.request.urlopen(req).status)
