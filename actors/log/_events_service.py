"""The registry's events of the process around the calls: operator actions, drain, start-up,
the HTTP servers, the tenant store and cluster mode (private; assembled by ``_events``)."""

from __future__ import annotations

from ._event import Event

SERVICE_EVENTS = (
    Event(
        code="operator_hangup",
        severity="INFO",
        category="Operations",
        cause="POST /actors/{call_id}/hangup on the operator port",
        response="HTTP 202; the call ends with reason operator_hangup",
    ),
    Event(
        code="admin_unauthorized",
        severity="WARNING",
        category="Operations",
        cause="An operator request without the right `Authorization: Bearer` token or console "
        "session cookie, or a console sign-in with a wrong token",
        response="HTTP 401 (the sign-in form again, for a sign-in)",
    ),
    Event(
        code="admin_request_refused",
        severity="WARNING",
        category="Operations",
        cause="An operator request refused before any route (reason: cross_origin, a POST that a "
        "page of another origin made, by its Origin or Sec-Fetch-Site; host_not_loopback, a "
        "request without ADMIN_TOKEN whose Host is not a loopback address, as a DNS-rebinding "
        "page sends)",
        response="HTTP 403 `{\"ok\": false, \"error\": REASON}`",
        fixes=(
            ("cross_origin from a proxy", "a proxy in front of the operator port must pass the "
             "Host header through unchanged (the console's Origin is compared with it)"),
            ("host_not_loopback from a tool on the same machine", "address the port as "
             "127.0.0.1 or localhost, or set ADMIN_TOKEN"),
        ),
    ),
    Event(
        code="operator_signed_in",
        severity="INFO",
        category="Operations",
        cause="POST /console/sign-in with the operator token: the browser got the console's "
        "session cookie (an HMAC of the token, never the token)",
        response="HTTP 303 to the console",
    ),
    Event(
        code="drain_started",
        severity="WARNING",
        category="Operations",
        cause="SIGTERM, SIGINT or POST /drain: new calls are rejected (SIP 503)",
        response="Live calls get CALLVISOR_DRAIN_GRACE_S to finish; GET /ready answers 503",
    ),
    Event(
        code="drain_finished",
        severity="WARNING",
        category="Operations",
        cause="The drain grace period ended or every call finished (field: ended_by_drain)",
        response="Remaining calls were hung up; the process exits 0",
    ),
    Event(
        code="signal_received",
        severity="WARNING",
        category="Operations",
        cause="SIGTERM or SIGINT (field signal); or SIGHUP",
        response="SIGTERM, SIGINT: a drain starts. SIGHUP: the tenants file is read again "
        "(`tenants_reloaded` or `tenants_reload_failed` follows)",
    ),
    Event(
        code="service_started",
        severity="INFO",
        category="Operations",
        cause="Both HTTP servers are listening (fields: public, admin, replica_id, "
        "max_concurrent_calls, fd_limit: the open-file limit in force)",
        response="None",
    ),
    Event(
        code="fd_limit_low",
        severity="WARNING",
        category="Operations",
        cause="At start, the open-file limit (fields: fd_limit, needed) is below what "
        "MAX_CONCURRENT_CALLS needs: one descriptor per live call, two per webhook being "
        "delivered, and a reserve for pools and listeners (docs/operations.md, File descriptors)",
        response="None yet; under load, accepts fail and `accept_capacity_exhausted` follows",
        fixes=(("always", "raise the hard limit (`ulimit -Hn`, systemd `LimitNOFILE=`); callvisor "
                "raises its soft limit to the hard one by itself"),),
    ),
    Event(
        code="accept_capacity_exhausted",
        severity="ERROR",
        category="Operations",
        cause="accept() failed with EMFILE, ENFILE, ENOMEM or ENOBUFS: the process (or the "
        "system) has no descriptor or memory left for a new connection; logged at most once "
        "every 10 s (fields: errno, refused_since_last_line)",
        response="New connections wait in the listen backlog; accept is retried every 0.1 s, so "
        "service resumes within a tenth of a second of descriptors coming free. OpenAI sees slow "
        "or refused webhook deliveries and retries them",
        fixes=(("errno EMFILE", "raise the open-file limit (`fd_limit_low` at start says what is "
                "needed); check `callvisor_live_calls` against MAX_CONCURRENT_CALLS"),
               ("errno ENFILE", "the whole host is out of descriptors: `cat /proc/sys/fs/file-nr`")),
    ),
    Event(
        code="http_request_malformed",
        severity="WARNING",
        category="Webhook",
        cause="A request on the public or operator port is not valid HTTP/1.1 (a NUL or other "
        "illegal byte in a header, two Content-Length headers, oversized headers, an unknown "
        "transfer coding, no Host): fields status and reason (h11's, without the client's bytes). "
        "Logged at most once every 10 s, with dropped_since_last_line",
        response="HTTP 400 (431 for headers too large, 501 for a transfer coding) "
        "`{\"ok\": false, \"error\": \"malformed_http\", \"status\": STATUS}`, connection closed; "
        "nothing reaches the app or OpenAI",
        fixes=(("from OpenAI's addresses", "a proxy in front of callvisor rewrites requests: "
                "compare what it forwards with the raw request"),),
    ),
    Event(
        code="tenants_reloaded",
        severity="INFO",
        category="Tenant configuration",
        cause="SIGHUP or POST /tenants/reload read CALLVISOR_TENANTS_FILE again and applied it "
        "(fields: trigger, added, removed, changed, problems: what `tenants check` would list)",
        response="New calls use the new tenants at once; live calls keep the plan they were "
        "accepted with",
    ),
    Event(
        code="tenants_reload_failed",
        severity="ERROR",
        category="Tenant configuration",
        cause="SIGHUP or POST /tenants/reload found a tenants file that cannot be used (unreadable, "
        "not YAML, no tenants list) or that would take tenants or numbers out of service (a "
        "duplicate id, a number claimed by two tenants); field problems lists every one",
        response="The old tenants stay; POST /tenants/reload answers 422 with the problems",
        fixes=(("always", "run `callvisor tenants check FILE`, fix what it lists, reload again"),),
    ),
    Event(
        code="service_stopped",
        severity="INFO",
        category="Operations",
        cause="The process finished its drain and shut down",
        response="Exit status 0",
    ),
    Event(
        code="tenants_file_problem",
        severity="WARNING",
        category="Tenant configuration",
        cause="An entry of the tenants file could not be loaded at all (field: problem); "
        "tenants whose documents are merely invalid are loaded and fail at call time",
        response="That entry's numbers are not routed",
        fixes=(("Any occurrence", "run `callvisor tenants check FILE`"),),
    ),
    Event(
        code="cluster_store_unavailable",
        severity="ERROR",
        category="Database",
        cause="Cluster mode: MongoDB could not be reached to take a capacity lease (the call is "
        "refused), to deduplicate a webhook (this replica deduplicates alone), or at start-up "
        "to create the cluster's indexes",
        response="New calls rejected with SIP 503, `{\"ok\": true, \"rejected\": \"capacity_unavailable\"}`; "
        "live calls go on",
        fixes=(("Any occurrence", "check MONGODB_URI, the network path and the replica set's health"),),
    ),
    Event(
        code="capacity_lease_renew_failed",
        severity="WARNING",
        category="Database",
        cause="Cluster mode: a live call's lease could not be renewed (or, at its end, released) "
        "in MongoDB",
        response="The call goes on; the lease expires after CALLVISOR_LEASE_TTL_S unless a later "
        "heartbeat succeeds",
    ),
    Event(
        code="capacity_lease_lost",
        severity="ERROR",
        category="Database",
        cause="Cluster mode: a live call's lease expired without being renewed, or another call "
        "claimed its slot after such an expiry (fields slots_held, slots_expected)",
        response="The call goes on, but another replica may admit a call into its slot: the "
        "fleet can be above its limit until this call ends",
        fixes=(("Any occurrence", "restore MongoDB; consider a longer CALLVISOR_LEASE_TTL_S"),),
    ),
)
