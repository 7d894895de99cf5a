"""callvisor's benchmarks: intake, concurrent calls, burst, a peer built on the Agents SDK, profile.

``python -m bench`` (``make bench``) runs them all and writes docs/benchmarks.md; see
``bench/__main__.py`` for the options.  Each component runs in a process of its own:
``bench.loadgen`` (load), ``bench.platform`` (the simulated OpenAI platform), ``bench.peer`` (the
peer), and ``callvisor serve`` itself, started and watched by ``bench.procs``.
"""
