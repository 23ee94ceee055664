"""JSON over HTTP for the test helpers that stand for a service (one process, or a cluster behind nginx)."""
import requests


class HttpClient:
    """get/post/delete/json on ``self.url(path)``, through one keep-alive session (``self.http``)."""

    def __init__(self):
        self.http = requests.Session()

    def url(self, path):
        raise NotImplementedError

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.http.get(self.url(path), **kwargs)

    def post(self, path, json=None, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.http.post(self.url(path), json=json, **kwargs)

    def delete(self, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.http.delete(self.url(path), **kwargs)

    def auth_headers(self):
        """The Authorization header this client sends (a token-protected service), for other clients to send."""
        token = self.http.headers.get("Authorization")
        return {"Authorization": token} if token else {}

    def json(self, path):
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()
