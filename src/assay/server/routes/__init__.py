"""One router per resource; :data:`assay.server.app.ROUTERS` lists them."""
