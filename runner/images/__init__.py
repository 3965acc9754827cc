"""Container images: the Docker engine client, the local base image, service image builds,
and pushes to the platform's registry.

A leaf package (it imports only ``runner.errors``): the Docker runtime asks it for a
service image, the command layer builds and pushes with it. Heavy imports (``docker``)
happen inside the functions that talk to the engine.
"""
