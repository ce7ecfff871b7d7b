vcl 4.1;
# A CDN edge in front of the origin (the chapter's figure 1-11), Varnish 7.1 with xkey and var
# from Debian's varnish-modules. Design and reasons: docs/cdn.md. Rendered by the lab
# (src/lab/template.cc: double-brace placeholders, every one must have a value):
#
#   edge_name      this edge's name, sent back in X-Served-By          e.g. edge1
#   origin_host    the origin the edge fetches from (the LB's address)  e.g. 10.77.1.2
#   origin_port    its HTTP port                                        e.g. 80
#   admin_socket   the name of varnishd's -a listener for PURGE and /.ztm/edge; the lab starts
#                  varnishd with "-a public=ADDR:80 -a admin=PRIVATE_ADDR:6091"
#                  (src/lab/engines/varnish.cc)                          e.g. admin
#   purgers        the ACL body: one entry a line, who may purge        e.g. "10.77.1.0"/24;
#   lease          how long the edge trusts its purge stream without news (a VCL duration):
#                  with no sync for longer, mutable objects are passed   e.g. 2s
#                  (the lab renders 100y, off, until the web tier syncs the edges; shorter
#                  "off" values fence everything: before the first sync synced_at is 0)
#
# What the origin tells the edge (docs/cdn.md, "The caching policy per route"):
#   CDN-Cache-Control (RFC 9213) max-age / stale-while-revalidate / stale-if-error: the edge's
#     TTL, SWR and SIE windows; when present the edge ignores Cache-Control (the browser's).
#   Surrogate-Key: space-separated keys (user-12 users-list ...), purged with xkey.
#   Without CDN-Cache-Control, Cache-Control s-maxage/max-age (immutable assets and media).
#   Without explicit freshness nothing is stored (never Varnish's default_ttl guess).

import std;
import xkey;
import var;

# A dead origin is noticed within 2 s: 2 failed probes of the last 4 make it sick (good < 3), at
# most 2 x 500 ms + 300 ms after it died. Back to healthy after 3 good probes (1.5 s).
# Varnish's defaults (5 s interval, window 8, threshold 3) take ~30 s.
probe origin_ready {
    .url = "/readyz";
    .interval = 500ms;
    .timeout = 300ms;
    .window = 4;
    .threshold = 3;
    .initial = 2;  # sick until the first good probe
    .expected_response = 200;
}

backend origin {
    .host = "{{origin_host}}";
    .port = "{{origin_port}}";
    .connect_timeout = 500ms;
    .first_byte_timeout = 30s;  # HAProxy's "timeout server" (above the web tier's hold)
    .between_bytes_timeout = 10s;
    .probe = origin_ready;
}

acl purgers {
{{purgers}}
}

sub vcl_recv {
    set req.backend_hint = origin;
    if (req.restarts == 0) {
        # Ours alone: never taken from a client.
        unset req.http.X-Ztm-Grace;
        unset req.http.X-Ztm-Reason;
        unset req.http.X-Ztm-Invalidate;
        unset req.http.X-Ztm-Purged;
        unset req.http.X-Ztm-Synced-Age;
    }
    call vcl_req_host;  # builtin: lower-case Host; 400 without one on HTTP/1.1

    if (req.method == "PURGE") {
        call ztm_purge;
    }
    if (req.url ~ "^/\.ztm/") {
        call ztm_internal;
    }
    if (req.url ~ "^/metrics(\?|$)") {
        return (synth(404, "Not Found"));
    }
    if (req.method == "PRI") {
        return (synth(405, "Method Not Allowed"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # Unsafe methods (and OPTIONS) go to the origin and are never stored; a success
        # invalidates the URL and its Location/Content-Location in vcl_deliver (RFC 9111 4.4).
        set req.http.X-Ztm-Reason = "method";
        return (pass);
    }
    # Authenticated requests are never looked up nor stored: the answer may be personal.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;)\s*ztm_session=") {
        set req.http.X-Ztm-Reason = "auth";
        return (pass);
    }
    # Read-your-writes: the client asks for at least its own commit position (app/users.h).
    if (req.http.X-Ztm-Position) {
        set req.http.X-Ztm-Reason = "position";
        return (pass);
    }
    # Other cookies change no public answer: they never reach the origin from here.
    unset req.http.Cookie;

    # The purge lease: mutable objects are trusted only while the purge stream is known to be
    # caught up (a sync within the lease). Past it the edge passes, so it never serves what a
    # lost purge left behind; content-hashed URLs never change and stay served. When the origin
    # is sick the edge serves what it holds instead (stale-if-error below).
    if (req.url !~ "^/(assets|media)/" && std.healthy(req.backend_hint) &&
        now - std.time(var.global_get("synced_at"), std.time(integer=0)) > {{lease}}) {
        set req.http.X-Ztm-Reason = "fenced";
        return (pass);
    }

    if (req.http.X-Ztm-Grace == "revalidate") {
        # Restarted by vcl_hit: the copy is past its stale-while-revalidate window, so this
        # request waits for a fresh one (a miss: coalesced, revalidated by ETag).
        set req.grace = 0s;
    } else if (req.http.X-Ztm-Grace == "stale-if-error") {
        # Restarted by vcl_synth after an origin error: the copy's whole grace again (req.grace
        # outlives a restart); vcl_hit bounds it by the copy's stale-if-error window.
        set req.grace = 3650d;
    }
    return (hash);
}

# The cache key is the URL alone: one site behind every name and address of the edge, so a
# PURGE reaches the object whatever Host it was fetched with.
sub vcl_hash {
    hash_data(req.url);
    return (lookup);
}

sub vcl_hit {
    if (obj.ttl >= 0s) {
        return (deliver);
    }
    # Stale. With a healthy origin, only within the object's stale-while-revalidate window (a
    # background fetch refreshes it); past it, wait for a fresh copy.
    if (std.healthy(req.backend_hint) && req.http.X-Ztm-Grace != "stale-if-error") {
        if (obj.ttl + std.duration(obj.http.X-Ztm-Swr, 0s) > 0s) {
            set req.http.X-Ztm-Reason = "stale-while-revalidate";
            return (deliver);
        }
        set req.http.X-Ztm-Grace = "revalidate";
        return (restart);
    }
    # The origin is sick, or failed this request: stale-if-error, within the object's window.
    if (obj.ttl + std.duration(obj.http.X-Ztm-Sie, 0s) > 0s) {
        set req.http.X-Ztm-Reason = "stale-if-error";
        return (deliver);
    }
    return (synth(503, "Origin unavailable"));
}

sub vcl_backend_fetch {
    unset bereq.http.X-Ztm-Grace;
    unset bereq.http.X-Ztm-Reason;
    unset bereq.http.X-Ztm-Invalidate;
    # A fetch asks the origin for its latest committed version, past its own caches and
    # replicas: an edge refetching after a purge must not store an older copy for a whole TTL,
    # and a fenced edge's passes must not answer older than the lease promises (docs/cdn.md,
    # "The origin's own caches"). The origin honours it from its trusted proxies only. Not for
    # a signed-in client's own request (passed, never stored): it reads as at the origin, so
    # that sending those through an edge cannot turn cached reads into primary reads.
    unset bereq.http.Ztm-Edge-Fetch;
    if (!bereq.http.Authorization && bereq.http.Cookie !~ "(^|;)\s*ztm_session=") {
        set bereq.http.Ztm-Edge-Fetch = "1";
    }
    if (bereq.method == "GET") {
        unset bereq.body;
    }
    return (fetch);
}

sub vcl_backend_response {
    if (beresp.status >= 500) {
        # Keep a stale copy rather than replace it with the error: a background fetch, or a
        # revalidation (Varnish sent If-None-Match from the copy it holds). The client side
        # then serves the copy (vcl_synth restarts with stale-if-error).
        if (bereq.is_bgfetch || (!bereq.uncacheable && bereq.http.If-None-Match)) {
            return (abandon);
        }
        call ztm_error_hitmiss;
    }
    if (bereq.uncacheable) {
        return (deliver);  # a pass: never stored
    }
    if (beresp.http.Set-Cookie || beresp.http.Vary == "*") {
        call ztm_hitmiss;
    }

    set beresp.http.X-Ztm-Swr = "0";
    set beresp.http.X-Ztm-Sie = "0";
    if (beresp.http.CDN-Cache-Control) {
        # RFC 9213: the targeted field wins; Cache-Control is the browser's.
        if (beresp.http.CDN-Cache-Control ~ "(?i)(no-store|no-cache|private)") {
            call ztm_hitmiss;
        }
        set beresp.ttl = std.duration(regsub(beresp.http.CDN-Cache-Control,
            "(?i)^(?:.*[,\s])?max-age=([0-9]+).*$", "\1s"), 0s);
        call ztm_stale_windows_cdn;
    } else if (beresp.http.Cache-Control ~ "(?i)(no-store|no-cache|private)" ||
               beresp.http.Cache-Control !~ "(?i)(^|[,\s])(s-maxage|max-age)=[1-9]") {
        # No explicit freshness for a shared cache: not stored (not default_ttl).
        call ztm_hitmiss;
    } else {
        # beresp.ttl is Varnish's reading of s-maxage / max-age.
        call ztm_stale_windows_cc;
    }
    if (beresp.ttl <= 0s) {
        # Never a cacheable TTL-0 object: its waiting list would be woken one request at a time.
        call ztm_hitmiss;
    }
    if (std.duration(beresp.http.X-Ztm-Sie + "s", 0s) > std.duration(beresp.http.X-Ztm-Swr + "s", 0s)) {
        set beresp.grace = std.duration(beresp.http.X-Ztm-Sie + "s", 0s);
    } else {
        set beresp.grace = std.duration(beresp.http.X-Ztm-Swr + "s", 0s);
    }
    set beresp.http.X-Ztm-Swr = beresp.http.X-Ztm-Swr + "s";
    set beresp.http.X-Ztm-Sie = beresp.http.X-Ztm-Sie + "s";
    if (beresp.http.ETag) {
        set beresp.keep = 1h;  # revalidate with If-None-Match after ttl + grace: a 304, no body
    }
    # Surrogate keys for xkey: the origin's, and the URL's path (for invalidation after an
    # unsafe request, and for "ztm cdn purge URL": every query string of the path).
    set beresp.http.xkey = "url:" + regsub(bereq.url, "\?.*$", "");
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.xkey + " " + beresp.http.Surrogate-Key;
        unset beresp.http.Surrogate-Key;
    }
    # Compress stored text assets only: Varnish weakens the ETag of what it gzips (W/"..."),
    # and API answers keep strong ETags for If-Match and for the origin's revalidation.
    if (bereq.url ~ "^/assets/" &&
        beresp.http.Content-Type ~ "^(text/css|text/javascript|application/javascript|image/svg)") {
        set beresp.do_gzip = true;
    }
    return (deliver);
}

sub ztm_stale_windows_cdn {
    if (beresp.http.CDN-Cache-Control ~ "(?i)stale-while-revalidate=[0-9]+") {
        set beresp.http.X-Ztm-Swr = regsub(beresp.http.CDN-Cache-Control,
            "(?i)^.*stale-while-revalidate=([0-9]+).*$", "\1");
    }
    if (beresp.http.CDN-Cache-Control ~ "(?i)stale-if-error=[0-9]+") {
        set beresp.http.X-Ztm-Sie = regsub(beresp.http.CDN-Cache-Control,
            "(?i)^.*stale-if-error=([0-9]+).*$", "\1");
    }
}

sub ztm_stale_windows_cc {
    if (beresp.http.Cache-Control ~ "(?i)stale-while-revalidate=[0-9]+") {
        set beresp.http.X-Ztm-Swr = regsub(beresp.http.Cache-Control,
            "(?i)^.*stale-while-revalidate=([0-9]+).*$", "\1");
    }
    if (beresp.http.Cache-Control ~ "(?i)stale-if-error=[0-9]+") {
        set beresp.http.X-Ztm-Sie = regsub(beresp.http.Cache-Control,
            "(?i)^.*stale-if-error=([0-9]+).*$", "\1");
    }
}

# Hit-for-miss, not hit-for-pass: the next response, if cacheable, is stored again at once; and
# requests in the meantime go to the origin in parallel instead of queueing on a waiting list.
sub ztm_hitmiss {
    set beresp.ttl = 10s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    return (deliver);
}

# An origin error with no copy to fall back on: delivered, remembered 1 s as uncacheable.
sub ztm_error_hitmiss {
    if (!bereq.uncacheable) {
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
    }
    return (deliver);
}

sub vcl_backend_error {
    # The origin did not answer (refused, timed out, marked sick).
    if (bereq.is_bgfetch || (!bereq.uncacheable && bereq.http.If-None-Match)) {
        return (abandon);
    }
    if (!bereq.uncacheable) {
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
    }
    set beresp.http.Content-Type = "application/json";
    set beresp.http.Cache-Control = "no-store";
    set beresp.http.Retry-After = "1";
    set beresp.body = {"{"error":{"code":"origin_unavailable","message":"the edge could not reach the origin"} +
        {"""} + "}" + {","status":"} + beresp.status + "}";
    return (deliver);
}

sub vcl_deliver {
    # RFC 9111 4.4: a successful unsafe request invalidates its target URI and the URIs in
    # Location and Content-Location (relative ones: same origin only). The origin's purge on
    # write (through the outbox) covers every edge; this covers the edge the write came through
    # at once, and any URL the origin does not key.
    if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS" &&
        resp.status >= 200 && resp.status < 400) {
        set req.http.X-Ztm-Invalidate = "url:" + regsub(req.url, "\?.*$", "");
        if (resp.http.Location ~ "^/") {
            set req.http.X-Ztm-Invalidate = req.http.X-Ztm-Invalidate + " url:" +
                regsub(resp.http.Location, "\?.*$", "");
        }
        if (resp.http.Content-Location ~ "^/") {
            set req.http.X-Ztm-Invalidate = req.http.X-Ztm-Invalidate + " url:" +
                regsub(resp.http.Content-Location, "\?.*$", "");
        }
        std.log("ztm-invalidate: " + req.http.X-Ztm-Invalidate + " objects=" +
            xkey.purge(req.http.X-Ztm-Invalidate));
    }
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    if (req.http.X-Ztm-Reason) {
        set resp.http.X-Cache-Reason = req.http.X-Ztm-Reason;
    }
    set resp.http.X-Served-By = "{{edge_name}}";
    # Age is set by Varnish on every object it delivers (0 on a miss or pass).
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.CDN-Cache-Control;
    unset resp.http.X-Ztm-Swr;
    unset resp.http.X-Ztm-Sie;
    return (deliver);
}

sub vcl_synth {
    # An origin error abandoned above because a stale copy exists (Varnish turns an abandoned
    # fetch into this 503 "Service Unavailable"): look again, allowing the copy's stale-if-error
    # window (vcl_hit). Once: the second failure is the client's 503.
    if (resp.status == 503 && resp.reason == "Service Unavailable" &&
        req.http.X-Ztm-Grace != "stale-if-error" && (req.method == "GET" || req.method == "HEAD")) {
        set req.http.X-Ztm-Grace = "stale-if-error";
        return (restart);
    }
    set resp.http.X-Cache = "MISS";
    set resp.http.X-Served-By = "{{edge_name}}";
    set resp.http.Age = "0";
    set resp.http.Cache-Control = "no-store";
    set resp.http.Content-Type = "application/json";
    # JSON by concatenation: a VCL long string ends at the first quote-brace, so a closing
    # quote followed by a brace is written as {"""} + "}".
    if (resp.status == 200 && req.method == "PURGE") {
        set resp.body = {"{"purged":"} + std.integer(req.http.X-Ztm-Purged, 1) + "}";
    } else if (resp.status == 200 && req.url == "/.ztm/ping") {
        set resp.http.Access-Control-Allow-Origin = "*";
        set resp.body = {"{"edge":""} + "{{edge_name}}" + {"","ok":true}"};
    } else if (resp.status == 299) {
        set resp.status = 200;
        set resp.reason = "OK";
        call ztm_edge_status;
    } else if (resp.status == 503) {
        set resp.http.Retry-After = "1";
        set resp.body = {"{"error":{"code":"origin_unavailable","message":"the origin failed and the edge holds no copy young enough"} +
            {"""} + "}" + {","status":503}"};
    } else {
        set resp.body = {"{"error":{"code":"edge","message":""} + resp.reason + {"""} + "}" +
            {","status":"} + resp.status + "}";
    }
    return (deliver);
}

sub vcl_purge {
    return (synth(200, "Purged"));
}

# PURGE on the admin listener from a purger only:
#   PURGE /some/url                       the object of that exact URL (return (purge))
#   PURGE /  + Xkey-Purge: k1 k2 ...      every object tagged with any key (xkey.purge, hard)
#   PURGE /  + X-Ztm-Synced-At: UNIXTIME  the purge stream is caught up to that commit time
# (both headers may come in one request: the keys are purged before the lease moves on).
sub ztm_purge {
    if (local.socket != "{{admin_socket}}" || client.ip !~ purgers) {
        return (synth(403, "Forbidden"));
    }
    if (!req.http.Xkey-Purge && !req.http.X-Ztm-Synced-At) {
        return (purge);
    }
    set req.http.X-Ztm-Purged = "0";
    if (req.http.Xkey-Purge) {
        set req.http.X-Ztm-Purged = xkey.purge(req.http.Xkey-Purge);
    }
    if (std.time(req.http.X-Ztm-Synced-At, std.time(integer=0)) >
        std.time(var.global_get("synced_at"), std.time(integer=0))) {
        var.global_set("synced_at", req.http.X-Ztm-Synced-At);
    }
    return (synth(200, "Purged"));
}

# Edge endpoints, answered here, never stored:
#   GET /.ztm/ping   anyone (the browser client's edge check)
#   GET /.ztm/edge   purgers on the admin listener: origin health and the purge lease
sub ztm_internal {
    if (req.url == "/.ztm/ping") {
        return (synth(200, "OK"));
    }
    if (req.url == "/.ztm/edge" && local.socket == "{{admin_socket}}" && client.ip ~ purgers) {
        return (synth(299, "Edge status"));
    }
    return (synth(404, "Not Found"));
}

sub ztm_edge_status {
    set req.http.X-Ztm-Synced-Age = now - std.time(var.global_get("synced_at"), std.time(integer=0));
    set resp.body = {"{"edge":""} + "{{edge_name}}" +
        {"","origin_healthy":"} + std.healthy(req.backend_hint) +
        {","synced_at":"} + std.time2real(std.time(var.global_get("synced_at"), std.time(integer=0)), 0.0) +
        {","synced_age_s":"} + req.http.X-Ztm-Synced-Age +
        {","lease_s":"} + {{lease}} +
        {","fenced":"} + (std.duration(req.http.X-Ztm-Synced-Age + "s", 0s) > {{lease}}) +
        "}";
}
