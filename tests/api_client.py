"""Calling the JSON API as a client would: a token per role, JSON in and out."""
from __future__ import annotations

import json

from django.test import Client

from lbadmin import api_tokens

API = "/api/v1"


class ApiClient:
    """The test client with `Authorization: Bearer <token>` on every request."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, **query):
        url = API + path
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        kwargs = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path, **query):
        return self.call("get", path, **query)

    def post(self, path, body=None, **query):
        return self.call("post", path, body, **query)

    def patch(self, path, body=None, **query):
        return self.call("patch", path, body, **query)

    def delete(self, path, **query):
        return self.call("delete", path, **query)


def token_client(user, name: str = "ci") -> tuple[ApiClient, object]:
    """An ApiClient for a new token of `user`, and the token's row."""
    row, token = api_tokens.issue(user, name)
    return ApiClient(token), row
