"""A researcher's browser, for the hub scenario's verify: signs in through the real login form
(cookies and XSRF, never an API token), starts a server with a profile from the spawn page,
waits for it, and uses it through the hub's address. Prints one JSON line.

usage: hubclient.py BASE CA ACTION USER PASSWORD [ARG]
  start PROFILE     start the user's server; {"ready", "host", "gpus", "message"}
  write NAME        write NAME into the shared folder through the server's contents API;
                    {"status"}
  kernel NAME       open a kernel through the hub's address and run code that writes NAME
                    into the shared folder; {"status", "reply"}
  peek OWNER        open OWNER's server with USER's session; {"page", "api"} (HTTP statuses)
  stop              stop the user's server; {"status"}
Runs with the hub's own Python (requests is there).
"""

import asyncio
import json
import re
import sys
import time
import uuid

import requests


def signed_in(base, ca, user, password):
    s = requests.Session()
    s.verify = ca
    # the hub's certificate alone: a CA bundle or proxy named in the environment would
    # replace it (requests lets REQUESTS_CA_BUNDLE override a session's verify)
    s.trust_env = False
    page = s.get(f"{base}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    answer = s.post(
        f"{base}/hub/login?next=%2Fhub%2Fhome",
        data={"username": user, "password": password, "_xsrf": xsrf},
        timeout=60,
    )
    if answer.status_code != 200 or "jupyterhub-hub-login" not in s.cookies:
        print(json.dumps({"signed_in": False, "status": answer.status_code}))
        sys.exit(0)
    s.headers["X-XSRFToken"] = s.cookies.get("_xsrf", path="/hub/") or ""
    return s


def server(s, base, user):
    model = s.get(f"{base}/hub/api/users/{user}", timeout=30).json()
    return model, (model.get("servers") or {}).get("")


def start(s, base, user, profile):
    page = s.get(f"{base}/hub/spawn/{user}", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    data = {"profile": profile}
    if xsrf:
        data["_xsrf"] = xsrf.group(1)
    s.post(f"{base}/hub/spawn/{user}", data=data, timeout=300, allow_redirects=True)
    message = ""
    for _ in range(180):
        model, srv = server(s, base, user)
        if srv and srv.get("ready"):
            state = srv.get("state") or {}
            return {
                "ready": True,
                "host": state.get("dlfleet_host"),
                "gpus": state.get("dlfleet_gpus"),
                "url": srv.get("url"),
            }
        if not srv or not srv.get("pending"):
            progress = s.get(f"{base}/hub/api/users/{user}/server/progress", timeout=30,
                             headers={"Accept": "text/event-stream"}, stream=True)  # fmt: skip
            for line in progress.iter_lines(decode_unicode=True):
                if line.startswith("data:"):
                    message = json.loads(line[5:]).get("message", message)
            if not srv:
                return {"ready": False, "message": message}
        time.sleep(2)
    return {"ready": False, "message": message or "timed out"}


def opened(s, base, user):
    """The server's session (the OAuth round trip through the hub) and its XSRF token."""
    first = s.get(f"{base}/user/{user}/api/status", timeout=60)
    s.get(f"{base}/user/{user}/lab", timeout=60)
    return first.status_code, s.cookies.get("_xsrf", path=f"/user/{user}/") or ""


def peek(s, base, owner):
    """Open owner's server with this session, as a browser would: its page (through the
    hub's OAuth), then its contents API; both answer 200 for the owner."""
    page = s.get(f"{base}/user/{owner}/lab", timeout=60)
    api = s.get(f"{base}/user/{owner}/api/contents", timeout=60)
    return {"page": page.status_code, "api": api.status_code}


def run_in_kernel(s, base, user, code, ca):
    """Start a kernel through the hub and run code on its websocket; the execute_reply."""
    from tornado import httpclient, websocket

    _, xsrf = opened(s, base, user)
    started = s.post(f"{base}/user/{user}/api/kernels", json={}, timeout=120,
                     headers={"X-XSRFToken": xsrf})  # fmt: skip
    kernel = started.json()["id"]
    cookies = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    url = base.replace("https://", "wss://") + f"/user/{user}/api/kernels/{kernel}/channels"
    request = httpclient.HTTPRequest(url, headers={"Cookie": cookies, "X-XSRFToken": xsrf},
                                     ca_certs=ca)  # fmt: skip

    async def talk():
        ws = await websocket.websocket_connect(request)
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False},
        }))  # fmt: skip
        while True:
            reply = json.loads(await asyncio.wait_for(ws.read_message(), 120))
            if reply.get("parent_header", {}).get("msg_id") == msg_id and (
                reply.get("msg_type") == "execute_reply"
            ):
                ws.close()
                return reply["content"]

    try:
        return started.status_code, asyncio.run(talk())
    finally:
        s.delete(f"{base}/user/{user}/api/kernels/{kernel}", headers={"X-XSRFToken": xsrf},
                 timeout=60)  # fmt: skip


def stop(s, base, user):
    """Stop user's server through the hub's API (the session's cookie and XSRF token), and
    wait until the hub says it is gone."""
    answer = s.delete(f"{base}/hub/api/users/{user}/server", timeout=120)
    for _ in range(60):
        if server(s, base, user)[1] is None:
            break
        time.sleep(2)
    return {"status": answer.status_code, "stopped": server(s, base, user)[1] is None}


def main(base, ca, action, user, password, arg=""):
    s = signed_in(base, ca, user, password)
    if action == "start":
        out = start(s, base, user, arg)
    elif action == "write":
        first, xsrf = opened(s, base, user)
        answer = s.put(
            f"{base}/user/{user}/api/contents/shared/{arg}",
            json={"type": "file", "format": "text", "content": f"written by {user}\n"},
            headers={"X-XSRFToken": xsrf},
            timeout=60,
        )
        out = {"status": answer.status_code, "first": first}
    elif action == "kernel":
        code = f"open('/workspace/shared/{arg}', 'w').write('from a kernel of {user}\\n')"
        status, reply = run_in_kernel(s, base, user, code, ca)
        out = {"status": status, "reply": reply.get("status")}
    elif action == "peek":
        out = peek(s, base, arg)
    elif action == "stop":
        out = stop(s, base, user)
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
