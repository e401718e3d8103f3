"""Command-line interface: thin commands over :class:`assay.app.Assay`."""
