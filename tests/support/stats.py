"""The answering node's own figures, from GET /stats (which has every live node's)."""


def node_stats(client):
    """The figures of the node that answered GET /stats; None while it cannot (503 unavailable: starting)."""
    response = client.get("/stats")
    if response.status_code == 503:
        return None
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    return next(node for node in body["nodes"] if node["node"] == body["node"])
