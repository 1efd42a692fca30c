"""Side-by-side benchmark of bayeux-broker and the faye 1.4.3 Node server (``python -m bench``)."""
