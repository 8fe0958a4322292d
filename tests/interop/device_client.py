"""An independent OAuth client runs the device authorization grant (RFC 8628) against a live
authd: requests-oauth2client (PyPI) asks for the codes and polls the token endpoint with its
own DeviceAuthorizationPoolingJob (interval, authorization_pending, slow_down); this script
also plays the person, who opens verification_uri_complete in a browser, signs in with
authd's real login form and allows the device. Exits non-zero, saying why, if anything fails.

Usage: python3 device_client.py <base_url> <client_id> <username> <password>
"""

import re
import sys
from urllib.parse import urljoin, urlsplit

import requests
from requests_oauth2client import DeviceAuthorizationPoolingJob, OAuth2Client


def form_value(html, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        sys.exit(f"no {name} field in the page:\n{html}")
    return match.group(1)


def approve(base_url, uri, username, password):
    """The person: opens the link, signs in, and allows the device."""
    browser = requests.Session()
    parts = urlsplit(uri)
    url = f"{base_url}{parts.path}?{parts.query}"
    while True:
        page = browser.get(url, allow_redirects=False)
        if page.status_code != 303:
            break
        url = urljoin(url, page.headers["Location"])
    if 'action="/ui/login"' not in page.text:
        sys.exit(f"expected the login form, got {page.status_code}:\n{page.text}")
    answer = browser.post(
        f"{base_url}/ui/login",
        data={
            "csrf": form_value(page.text, "csrf"),
            "authorization": form_value(page.text, "authorization"),
            "username": username,
            "password": password,
        },
        allow_redirects=False,
    )
    if answer.status_code != 303:
        sys.exit(f"login: {answer.status_code}\n{answer.text}")
    page = browser.get(urljoin(base_url, answer.headers["Location"]), allow_redirects=False)
    if "Allow" not in page.text or form_value(page.text, "user_code") == "":
        sys.exit(f"expected the question, got {page.status_code}:\n{page.text}")
    done = browser.post(
        f"{base_url}/ui/device/decide",
        data={
            "csrf": form_value(page.text, "csrf"),
            "user_code": form_value(page.text, "user_code"),
            "decision": "allow",
        },
        allow_redirects=False,
    )
    if done.status_code != 200 or "Device connected" not in done.text:
        sys.exit(f"approval: {done.status_code}\n{done.text}")


def main(base_url, client_id, username, password):
    client = OAuth2Client(
        token_endpoint=f"{base_url}/oauth/token",
        device_authorization_endpoint=f"{base_url}/oauth/device_authorization",
        client_id=client_id,
        testing=True,
    )
    codes = client.authorize_device(scope="openid offline_access")
    if not re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", codes.user_code):
        sys.exit(f"user_code {codes.user_code!r} is not RFC 8628 §6.1's shape")
    job = DeviceAuthorizationPoolingJob(client, codes)
    # One poll before the person answers: authorization_pending, so the job keeps polling.
    if job() is not None:
        sys.exit("a token before the person answered")
    approve(base_url, codes.verification_uri_complete, username, password)
    token = None
    for _ in range(10):
        token = job()
        if token is not None:
            break
    if token is None:
        sys.exit("no token after the approval")
    if not token.id_token or not token.refresh_token:
        sys.exit(f"expected an ID token and a refresh token: {token}")
    me = requests.get(f"{base_url}/me", headers={"Authorization": f"Bearer {token.access_token}"})
    if me.status_code != 200 or me.json().get("username") != username:
        sys.exit(f"/me with the device's token: {me.status_code} {me.text}")
    print("device flow: ok")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
