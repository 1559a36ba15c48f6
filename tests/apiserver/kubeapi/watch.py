"""One watch stream: initial events, then changes from the store's history.

Semantics follow the real watch cache: resourceVersion "" or "0" (or
sendInitialEvents=true) starts with synthetic ADDED events for the current
objects; a resourceVersion R streams every change after R; R older than the
compacted history gives an ERROR event carrying a 410 Expired Status (also when
a slow watch falls behind compaction). An object that starts or stops matching
the selectors appears as ADDED or DELETED. BOOKMARKs (allowWatchBookmarks=true)
carry only metadata.resourceVersion; with sendInitialEvents the first one is
annotated k8s.io/initial-events-end. The stream ends at timeoutSeconds
(default 1800) or when the server drops all watches.
"""
import time

from .errors import expired

DEFAULT_TIMEOUT = 1800


class Watch:
    def __init__(self, app, rtype, namespace, request):
        self.app = app
        self.store = app.store
        self.rtype = rtype
        self.matches = app.api.matcher(rtype, namespace, request)   # raises on bad selectors
        self.rv = request.param("resourceVersion")
        self.bookmarks = request.param("allowWatchBookmarks") in ("1", "true")
        self.send_initial = request.param("sendInitialEvents") == "true"
        self.initial = self.send_initial or self.rv in ("", "0")
        self.timeout = int(request.param("timeoutSeconds") or DEFAULT_TIMEOUT)

    def _event(self, event_type, obj):
        return {"type": event_type, "object": self.app.api.view(self.rtype, obj)}

    def _bookmark(self, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": self.rtype.kind,
                                               "apiVersion": self.rtype.api_version,
                                               "metadata": meta}}

    def _gone(self, rv):
        error = expired(f"too old resource version: {rv} ({self.store.compacted_rv + 1})")
        return {"type": "ERROR", "object": error.status}

    def _translate(self, event):
        if event.storage != self.rtype.storage:
            return None
        was = event.prev is not None and event.type != "ADDED" and self.matches(event.prev)
        now = event.type != "DELETED" and self.matches(event.obj)
        if event.type == "DELETED":
            return self._event("DELETED", event.obj) if was else None
        if was and now:
            return self._event("MODIFIED", event.obj)
        if now:
            return self._event("ADDED", event.obj)
        if was:
            return self._event("DELETED", event.obj)
        return None

    def _start(self):
        """Returns (initial events, cursor) or (an ERROR event list, None)."""
        with self.store.lock:
            self.epoch = self.store.watch_epoch
            if self.initial:
                objects = sorted(self.store.items(self.rtype.storage).items())
                events = [self._event("ADDED", o) for _, o in objects if self.matches(o)]
                return events, self.store.rv
            cursor = int(self.rv)
            if cursor < self.store.compacted_rv:
                return [self._gone(cursor)], None
            return [], cursor

    def _wait(self, cursor, deadline, next_bookmark):
        """Blocks until there are events after cursor; returns (history events, bookmark rv,
        end flag)."""
        with self.store.lock:
            while True:
                if self.store.watch_epoch != self.epoch:
                    return None, None, True
                if cursor < self.store.compacted_rv:
                    return [self._gone(cursor)], None, True
                pending = self.store.events_after(cursor)
                if pending:
                    return list(pending), None, False
                moment = time.monotonic()
                if moment >= deadline:
                    return None, None, True
                if self.bookmarks and moment >= next_bookmark:
                    return None, self.store.rv, False
                wake = min(deadline, next_bookmark) if self.bookmarks else deadline
                self.store.lock.wait(max(0.01, wake - moment))

    def events(self):
        initial, cursor = self._start()
        yield from initial
        if cursor is None:
            return
        if self.send_initial and self.bookmarks:
            yield self._bookmark(cursor, initial_end=True)
        deadline = time.monotonic() + self.timeout
        interval = self.app.bookmark_interval
        next_bookmark = time.monotonic() + interval
        while True:
            pending, bookmark_rv, end = self._wait(cursor, deadline, next_bookmark)
            if pending and isinstance(pending[0], dict):   # an ERROR event
                yield from pending
                return
            if end:
                return
            if bookmark_rv is not None:
                cursor = bookmark_rv
                next_bookmark = time.monotonic() + interval
                yield self._bookmark(bookmark_rv)
                continue
            for event in pending:
                cursor = event.rv
                translated = self._translate(event)
                if translated:
                    yield translated
