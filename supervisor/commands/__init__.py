"""The process's tools, apart from the service itself: the ``callvisor`` command line.

``cli`` parses the command line and runs ``serve`` (the service in :mod:`supervisor.service`),
``demo`` (every scenario against the simulated platform), ``simulate`` (the simulated platform as
a process of its own), ``tenants`` (check, import, list) and ``docs`` (the generated
troubleshooting page).  Run it as ``callvisor`` or ``python -m supervisor.commands.cli``.
"""
