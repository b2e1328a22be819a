"""The ``spectrus`` command: runs a whole instance on one machine (``spectrus up``)."""
