"""Where the routes find the node this app serves."""
from flask import current_app

NODE_KEY = "greenrow.node"


def current_node():
    """The node given to create_app (greenlets.node.Node in production)."""
    return current_app.extensions[NODE_KEY]
