"""``impactlib serve``: the privileged daemon that measures the whole machine once and hands
every user their own share of it.

Why a daemon: since Linux 5.10 the RAPL counters are readable by root only, so on the shared
servers that matter an ordinary user's tracker can only model the CPU. Opening the counters to
everyone re-opens the PLATYPUS side channel; a broker that hands out raw machine counters
(zeusd) gives no per-user figure. Here one root process samples every meter, attributes every
interval to every process, user and job with the same arithmetic a tracker uses
(:mod:`impactlib.attribution.shares`), and answers each caller about *their own* processes
only, decided by the kernel's peer credentials, not by the socket's file mode.

Modules, in the order data flows through them:

* :mod:`.procscan`: every process's CPU time, owner and job, from kept ``/proc`` files;
* :mod:`.attributor`: each interval's energy split between all of them at once;
* :mod:`.minutes`: per-minute aggregates per user, job and process tree, buffered for the store;
* :mod:`.daemon`: the sampling loop, the host power model learned from it, start and stop;
* :mod:`.callers`: who is asking (peer credentials, PID namespace) and what they may see;
* :mod:`.api`: HTTP with JSON bodies over the Unix socket, peer credentials checked;
* :mod:`.metrics`: the Prometheus exporter (``prometheus-client``, the ``daemon`` extra).
"""
