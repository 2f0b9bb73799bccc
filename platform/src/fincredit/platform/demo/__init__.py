"""``make demo``: the story that walks every capability against the running service
(``demo.story``), and the bulk demo data generator (``demo.data``)."""
